/** The console's stylesheet (served from /console.css; compiled in, so `npm ci` builds it with no extra step). */
export const CONSOLE_CSS = `
:root { color-scheme: light dark; --fg: #1d232a; --muted: #66707a; --bg: #fafbfc; --card: #fff; --line: #dde2e7; --accent: #2457c5; --bad: #b3261e; --ok: #1e7a3c; }
@media (prefers-color-scheme: dark) { :root { --fg: #e3e7eb; --muted: #9aa4ae; --bg: #14181c; --card: #1c2227; --line: #2d353d; --accent: #7aa2ff; --bad: #ff8a80; --ok: #6fdc8c; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 18px; align-items: center; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--card); }
header strong { margin-right: 12px; }
header a { color: var(--fg); text-decoration: none; }
header a.here { color: var(--accent); font-weight: 600; }
main { padding: 18px 20px; max-width: 1280px; }
h1 { font-size: 20px; margin: 0 0 14px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px; margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; }
td.num { font-variant-numeric: tabular-nums; }
a { color: var(--accent); }
button { font: inherit; padding: 5px 12px; border-radius: 6px; border: 1px solid var(--line); background: var(--card); color: var(--fg); cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { color: var(--bad); }
input, select, textarea { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
form.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; }
form.row label { display: flex; flex-direction: column; gap: 3px; color: var(--muted); }
.status-running, .status-stopping { color: var(--accent); }
.status-completed { color: var(--ok); }
.status-stopped, .bad { color: var(--bad); }
.muted { color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.grid a { display: block; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 6px; text-decoration: none; color: var(--muted); font-size: 12px; }
.grid img { display: block; width: 100%; height: 130px; object-fit: contain; background: repeating-conic-gradient(#8881 0 25%, #0000 0 50%) 0 0 / 16px 16px; }
canvas { width: 100%; height: 160px; }
.error { color: var(--bad); white-space: pre-wrap; }
.reason { font-family: ui-monospace, monospace; font-size: 13px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; word-break: break-all; }
`;
