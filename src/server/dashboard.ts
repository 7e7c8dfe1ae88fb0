import { createHash } from 'node:crypto';

/** The dashboard page and the `Content-Security-Policy` that lets exactly its own style and script run. */
export interface DashboardPage {
  readonly html: string;
  readonly contentSecurityPolicy: string;
}

/**
 * The dashboard page the gateway serves at `/`: type prompts (one per line) or a topic to fan out, watch each
 * task's text grow in its own pane with status, timing and the deployment a `router` sent it to, cancel
 * tasks, and follow the pool's queue depth, in-flight count, tokens per minute and budget. One
 * self-contained HTML document, no framework; it talks to the gateway over the same protocol as any client.
 *
 * @example
 * response.end(dashboardHtml('/ws'));
 */
export function dashboardHtml(wsPath: string): string {
  return dashboardPage(wsPath).html;
}

/**
 * The dashboard page with its `Content-Security-Policy`: its inline style and script are allowed by their
 * SHA-256 hashes, nothing else runs, it connects only to its own origin and cannot be framed. Serve both.
 *
 * @example
 * const page = dashboardPage('/ws');
 * response.writeHead(200, { 'content-security-policy': page.contentSecurityPolicy }).end(page.html);
 */
export function dashboardPage(wsPath: string): DashboardPage {
  // JSON.stringify alone would let "</script>" in a path end the script early.
  const path = JSON.stringify(wsPath).replace(/</g, '\\u003c');
  // A function, so `$&` or `$'` in the path are taken literally rather than as replacement patterns.
  const script = SCRIPT.replace('__WS_PATH__', () => path);
  return {
    html: `${HEAD}<style>\n${STYLE}</style>${BODY}<script>\n${script}</script>${TAIL}`,
    contentSecurityPolicy: [
      "default-src 'none'",
      `style-src '${sha256(`\n${STYLE}`)}'`,
      `script-src '${sha256(`\n${script}`)}'`,
      "connect-src 'self'",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  };
}

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}

const HEAD = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rxagent dashboard</title>
<link rel="icon" href="data:,">
`;

const STYLE = `  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1em; background: #1d2330; color: #fff; flex-wrap: wrap; }
  header b { font-variant-numeric: tabular-nums; }
  #connection.down { color: #ff8a80; }
  main { padding: 1em; display: grid; gap: 1em; }
  main > * { min-width: 0; }
  form { display: grid; gap: .5em; grid-template-columns: 1fr auto; align-items: start; }
  textarea { width: 100%; box-sizing: border-box; min-height: 5em; font: inherit; }
  #panes { display: grid; gap: .8em; grid-template-columns: repeat(auto-fill, minmax(22em, 1fr)); }
  .pane { background: #fff; border: 1px solid #d6dae1; border-radius: 6px; padding: .6em; display: grid; grid-template-columns: minmax(0, 1fr); gap: .4em; min-width: 0; }
  .pane .head { display: flex; gap: .6em; align-items: center; }
  .pane .prompt { flex: 1; min-width: 0; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .pane .text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; max-height: 16em; overflow: auto; font: 13px/1.4 ui-monospace, monospace; }
  .status { font-size: 12px; padding: 0 .4em; border-radius: 3px; background: #e3e7ee; }
  .status.running { background: #fff3c4; } .status.fulfilled { background: #c8f2d2; } .status.rejected { background: #ffd6d6; }
  .timing, .error { font-size: 12px; color: #5a6270; } .error { color: #b00020; }
  .route { font-size: 12px; color: #3d4a66; } .route:empty { display: none; }
`;

const BODY = `
</head>
<body>
<header>
  <strong>rxagent</strong>
  <span id="connection">connecting…</span>
  <span>queued <b id="m-queued">0</b></span>
  <span>in flight <b id="m-inflight">0</b></span>
  <span>done <b id="m-completed">0</b></span>
  <span>failed <b id="m-failed">0</b></span>
  <span>tokens/min <b id="m-tpm">0</b></span>
  <span>budget <b id="m-budget">–</b></span>
</header>
<main>
  <form id="prompts-form">
    <textarea id="prompts" placeholder="One prompt per line"></textarea>
    <button type="submit" id="submit">Run prompts</button>
  </form>
  <form id="topic-form">
    <input id="topic" placeholder="A topic to fan out into several prompts">
    <button type="submit" id="fan-out">Fan out</button>
  </form>
  <div id="notice" class="error" role="status"></div>
  <section id="panes"></section>
</main>
`;

const SCRIPT = `(() => {
  const WS_PATH = __WS_PATH__;
  const ANGLES = ['an overview of', 'the history of', 'the main risks of', 'three examples of', 'open questions about'];
  const panes = new Map();
  const $ = (id) => document.getElementById(id);
  let socket;
  let counter = 0;

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    socket = new WebSocket(scheme + location.host + WS_PATH);
    socket.onopen = () => { $('connection').textContent = 'connected'; $('connection').className = ''; };
    socket.onclose = () => {
      $('connection').textContent = 'disconnected';
      $('connection').className = 'down';
      setTimeout(connect, 1000);
    };
    socket.onmessage = (message) => onFrame(JSON.parse(message.data));
  }

  function send(frame) {
    if (socket.readyState !== WebSocket.OPEN) { $('notice').textContent = 'Not connected'; return false; }
    socket.send(JSON.stringify(frame));
    return true;
  }

  function submit(prompts) {
    const tasks = prompts.map((p) => p.trim()).filter(Boolean).map((input) => ({ id: 'ui-' + Date.now().toString(36) + '-' + (counter++), input }));
    if (tasks.length === 0) return;
    for (const task of tasks) pane(task.id, task.input);
    send({ type: 'submit', tasks });
  }

  function pane(taskId, prompt) {
    let p = panes.get(taskId);
    if (p) return p;
    const el = document.createElement('article');
    el.className = 'pane';
    el.dataset.taskId = taskId;
    const head = document.createElement('div'); head.className = 'head';
    const title = document.createElement('span'); title.className = 'prompt'; title.textContent = prompt || taskId; title.title = prompt || taskId;
    const route = document.createElement('span'); route.className = 'route';
    const status = document.createElement('span'); status.className = 'status'; status.textContent = 'queued';
    const cancel = document.createElement('button'); cancel.className = 'cancel'; cancel.textContent = 'Cancel';
    cancel.onclick = () => send({ type: 'cancel', taskId });
    head.append(title, route, status, cancel);
    const timing = document.createElement('div'); timing.className = 'timing';
    const text = document.createElement('pre'); text.className = 'text';
    const error = document.createElement('div'); error.className = 'error';
    el.append(head, timing, text, error);
    $('panes').prepend(el);
    p = { el, route, status, timing, text, error, cancel, submittedAt: performance.now(), startedAt: 0, chars: 0 };
    panes.set(taskId, p);
    return p;
  }

  function setStatus(p, value) { p.status.textContent = value; p.status.className = 'status ' + value; p.el.dataset.status = value; }

  function onFrame(frame) {
    switch (frame.type) {
      case 'accepted': $('notice').textContent = ''; for (const id of frame.taskIds) pane(id); break;
      case 'started': { const p = pane(frame.taskId); p.startedAt = performance.now(); setStatus(p, 'running');
        p.timing.textContent = 'waited ' + Math.round(frame.waitMs) + ' ms'; break; }
      case 'delta': { const p = pane(frame.taskId); p.text.append(frame.text); p.chars += frame.text.length;
        p.text.scrollTop = p.text.scrollHeight;
        if (p.startedAt) p.timing.textContent = p.chars + ' chars in ' + Math.round(performance.now() - p.startedAt) + ' ms'; break; }
      case 'route': { const p = pane(frame.taskId);
        p.route.textContent = '→ ' + frame.deployment + (frame.attempt > 1 ? ' (attempt ' + frame.attempt + ')' : ''); break; }
      case 'tool': { const p = pane(frame.taskId); p.text.append('\\n[tools: ' + frame.calls.map((c) => c.name).join(', ') + ']\\n'); break; }
      case 'settled': {
        const p = pane(frame.taskId); const r = frame.result;
        setStatus(p, r.status); p.cancel.disabled = true;
        p.timing.textContent = Math.round(r.durationMs) + ' ms' + (r.usage ? ', ' + (r.usage.inputTokens + r.usage.outputTokens) + ' tokens' + (r.usage.cachedInputTokens ? ' (' + r.usage.cachedInputTokens + ' cached)' : '') + (r.usage.reasoningTokens ? ' (' + r.usage.reasoningTokens + ' reasoning)' : '') : '') + ', ' + r.attempts + ' attempt(s)';
        if (r.status === 'rejected') p.error.textContent = r.error.code + ': ' + r.error.message;
        break;
      }
      case 'metrics':
        $('m-queued').textContent = frame.queued; $('m-inflight').textContent = frame.inFlight;
        $('m-completed').textContent = frame.completed; $('m-failed').textContent = frame.failed;
        $('m-tpm').textContent = Math.round(frame.tokensPerMinute);
        $('m-budget').textContent = frame.budget === undefined ? '–' : JSON.stringify(frame.budget);
        break;
      case 'error': $('notice').textContent = frame.code + ': ' + frame.message; break;
    }
  }

  $('prompts-form').onsubmit = (event) => { event.preventDefault(); submit($('prompts').value.split('\\n')); $('prompts').value = ''; };
  $('topic-form').onsubmit = (event) => {
    event.preventDefault();
    const topic = $('topic').value.trim();
    if (topic) submit(ANGLES.map((angle) => 'Write ' + angle + ' ' + topic + '.'));
    $('topic').value = '';
  };
  connect();
})();
`;

const TAIL = `
</body>
</html>
`;
