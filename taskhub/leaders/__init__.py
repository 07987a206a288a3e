"""分管领导: the leaders of a city, the units and items they are responsible for, their view."""
