// Calls per day as an SVG bar chart, drawn here rather than with a chart library: a dozen
// rectangles do not justify a dependency, and the page loads nothing it does not serve itself.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 170;
const MARGIN = { top: 18, right: 8, bottom: 30, left: 30 };

function node(name, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== null) element.textContent = text;
  return element;
}

function dayLabel(isoDate) {
  const [year, month, day] = isoDate.split("-").map(Number);
  return new Date(year, month - 1, day).toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

/**
 * Replace `container`'s content with a chart of `perDay` ([{date: "2026-11-25", calls: 3}],
 * oldest first). The chart is an image to assistive technology, named by a one-line summary;
 * each bar carries its own title (shown as a tooltip).
 */
export function drawCallsPerDay(container, perDay) {
  const total = perDay.reduce((sum, day) => sum + day.calls, 0);
  const busiest = perDay.reduce((best, day) => (day.calls > (best?.calls ?? 0) ? day : best), null);
  const summary =
    `Calls per day over the last ${perDay.length} days: ${total} in all` +
    (busiest ? `, most on ${dayLabel(busiest.date)} (${busiest.calls}).` : ".");
  const svg = node("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": "chart-summary" });
  svg.append(node("title", { id: "chart-summary" }, summary));

  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = Math.max(1, ...perDay.map((day) => day.calls));
  const slot = plotWidth / Math.max(1, perDay.length);
  const baseline = MARGIN.top + plotHeight;
  const labelEvery = Math.ceil(perDay.length / 14);

  svg.append(node("line", { class: "axis", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: baseline, y2: baseline }));
  svg.append(node("text", { x: MARGIN.left - 6, y: MARGIN.top + 4, "text-anchor": "end" }, String(top)));
  svg.append(node("text", { x: MARGIN.left - 6, y: baseline, "text-anchor": "end" }, "0"));

  perDay.forEach((day, index) => {
    const height = (day.calls / top) * plotHeight;
    const x = MARGIN.left + index * slot + slot * 0.15;
    const group = node("g", { class: "day" });
    group.append(node("title", {}, `${dayLabel(day.date)}: ${day.calls} call${day.calls === 1 ? "" : "s"}`));
    group.append(
      node("rect", {
        class: day.calls ? "bar" : "bar empty",
        x: x.toFixed(1),
        y: (baseline - Math.max(height, 1)).toFixed(1),
        width: (slot * 0.7).toFixed(1),
        height: Math.max(height, 1).toFixed(1),
        "data-date": day.date,
        "data-calls": day.calls,
      }),
    );
    const middle = (x + slot * 0.35).toFixed(1);
    if (day.calls) {
      group.append(node("text", { class: "value", x: middle, y: (baseline - height - 4).toFixed(1), "text-anchor": "middle" }, String(day.calls)));
    }
    if ((perDay.length - 1 - index) % labelEvery === 0) {
      group.append(node("text", { x: middle, y: baseline + 16, "text-anchor": "middle" }, dayLabel(day.date)));
    }
    svg.append(group);
  });
  container.replaceChildren(svg);
}
