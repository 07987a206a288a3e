/* Dashboard charts: draws ECharts (vendored, static/vendor/echarts) from the JSON the page
 * embeds in <script type="application/json" id="dashboard-data">. Progressive enhancement:
 * without JavaScript the page shows the same figures as tables, and the chart boxes stay
 * hidden. The tables are the accessible version, so the charts are aria-hidden. */
(function () {
  "use strict";

  var holder = document.getElementById("dashboard-data");
  if (!holder || typeof window.echarts === "undefined") {
    return;
  }
  var data;
  try {
    data = JSON.parse(holder.textContent);
  } catch (e) {
    return;
  }
  var charts = [];

  function draw(box) {
    var spec = data[box.getAttribute("data-chart")];
    if (!spec || !spec.categories || spec.categories.length === 0) {
      return;
    }
    var horizontal = spec.orientation === "horizontal";
    var legend = spec.series.length > 1;
    box.hidden = false;
    box.style.height =
      (horizontal ? Math.max(140, 26 * spec.categories.length + (legend ? 70 : 40)) : 260) + "px";
    var category = {
      type: "category",
      data: spec.categories,
      inverse: horizontal, // first row at the top, as in the table
      axisLabel: horizontal ? { width: 150, overflow: "truncate" } : { interval: 0, rotate: 45 },
      axisTick: { show: false }
    };
    var value = {
      type: "value",
      minInterval: 1,
      max: spec.percent ? 100 : null,
      axisLabel: { formatter: spec.percent ? "{value}%" : "{value}" }
    };
    var chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: "inherit" },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        valueFormatter: spec.percent
          ? function (v) { return v + "%"; }
          : undefined
      },
      legend: { show: legend, top: 0 },
      grid: { left: 8, right: 24, top: legend ? 32 : 8, bottom: 8, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: spec.series.map(function (s) {
        return {
          name: s.name,
          type: "bar",
          stack: spec.stacked ? "all" : undefined,
          data: s.data,
          itemStyle: { color: s.color },
          barMaxWidth: 24
        };
      })
    });
    charts.push(chart);
  }

  var boxes = document.querySelectorAll("[data-chart]");
  for (var i = 0; i < boxes.length; i++) {
    draw(boxes[i]);
  }
  window.addEventListener("resize", function () {
    for (var j = 0; j < charts.length; j++) {
      charts[j].resize();
    }
  });
})();
