/**
 * Reports of a boot-time benchmark run: the terminal's table
 * (report-text.ts) and a standalone HTML page with SVG charts
 * (report-html.ts, report-svg.ts).
 */
export { memoryLine, percent, seconds, terminalTable, terminalText, times } from "./report-text.js";
export { concurrencyGroups, escapeHtml, milestoneSegments, niceTicks } from "./report-svg.js";
export { htmlReport } from "./report-html.js";
