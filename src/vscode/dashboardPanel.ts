import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { errorMessage, type Logger } from '../core/infra/logger';
import { buildDashboard } from '../ui/dashboardModel';
import { parseFromDashboard, type ToDashboard } from '../ui/messages';
import { DashboardActivity } from './dashboardActivity';
import type { HubController } from './hubController';
import { signInTo } from './signIn';

/** The live dashboard: one panel, fed with each state once the page has said `ready`. */
export class DashboardPanel implements vscode.Disposable {
  private static current?: DashboardPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;

  private readonly activity: DashboardActivity;

  static show(extensionUri: vscode.Uri, controller: HubController, logger: Logger): void {
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel('mcpSessionHub.dashboard', 'MCP Session Hub', vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: false,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'media')],
    });
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, controller, logger);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly controller: HubController,
    logger: Logger,
  ) {
    this.activity = new DashboardActivity(controller, (message) => this.post(message), logger);
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'hub.svg');
    panel.webview.html = html(panel.webview, extensionUri);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
      controller.onDidChangeState(() => this.push()),
      this.activity,
    );
  }

  private async receive(raw: unknown): Promise<void> {
    const message = parseFromDashboard(raw);
    if (!message) return;
    if (message.type === 'ready') {
      this.ready = true;
      this.activity.reset();
      this.push();
      return;
    }
    // The Activity view works from the records the panel keeps: no admin call.
    if (message.type === 'activityQuery') return this.activity.setQuery(message.query, message.page);
    if (message.type === 'activityDetails') return this.activity.showDetails(message.seq);
    if (message.type === 'exportActivity') {
      try {
        const saved = await this.activity.export();
        if (saved) this.post({ type: 'result', ok: true, message: `Exported ${saved.count} records to ${saved.path}.` });
      } catch (error) {
        this.post({ type: 'result', ok: false, message: `Export failed: ${errorMessage(error)}` });
      }
      return;
    }
    const client = this.controller.client;
    if (!client) return this.post({ type: 'result', ok: false, message: 'no hub is reachable' });
    try {
      if (message.type === 'signIn') {
        await signInTo(this.controller, message.upstream);
        this.post({ type: 'result', ok: true, message: `Opened the sign-in page of ${message.upstream}.` });
      } else if (message.type === 'killSession') {
        const ended = await client.killSession(message.sessionId);
        this.post({ type: 'result', ok: ended, message: ended ? `Session ${message.sessionId} ended.` : `No session ${message.sessionId}.` });
      } else if (message.type === 'killAllSessions') {
        const count = await client.killAllSessions();
        this.post({ type: 'result', ok: true, message: `${count} sessions ended.` });
      } else {
        const released = await client.releaseTombstones(message.type === 'releaseTombstone' ? { session: message.sessionId } : { all: true });
        this.post({ type: 'result', ok: true, message: `Released ${released} identifier(s) of ended sessions.` });
      }
    } catch (error) {
      this.post({ type: 'result', ok: false, message: errorMessage(error) });
    }
  }

  private push(): void {
    const state = this.controller.state;
    this.post(state ? { type: 'state', view: buildDashboard(state) } : { type: 'disconnected', reason: this.controller.problem ?? 'connecting to the hub…' });
  }

  private post(message: ToDashboard): void {
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  dispose(): void {
    DashboardPanel.current = undefined;
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
    this.panel.dispose();
  }
}

function html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'dashboard.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'dashboard.css'));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${style.toString()}">
<title>MCP Session Hub</title>
</head>
<body>
<header><h1>MCP Session Hub</h1><p id="hub">connecting…</p>
<nav class="tabs" role="tablist"><button id="tab-overview" role="tab" aria-selected="true">Overview</button><button id="tab-activity" role="tab" aria-selected="false">Activity</button></nav></header>
<main id="overview">
<section><div class="bar"><h2>Sessions</h2><button id="kill-all" class="danger">Kill all sessions</button></div>
<table id="sessions"><thead><tr><th>Who</th><th>Virtual servers</th><th>Transport</th><th>Calls</th><th>Avg latency</th><th>Age</th><th>Instances</th><th>Owned ids</th><th></th></tr></thead><tbody></tbody></table>
<p id="no-sessions" class="muted">No sessions.</p></section>
<section id="tombstones-section" hidden><div class="bar"><h2>Ended sessions' things</h2><button id="release-all" class="danger">Release all</button></div>
<p class="muted">What an ended session owned stays refused to every session until you release it.</p>
<table id="tombstones"><thead><tr><th>Session</th><th>Ended</th><th>Why</th><th>Owned</th><th></th></tr></thead><tbody></tbody></table></section>
<section><h2>Upstreams</h2><table id="upstreams"><thead><tr><th>Upstream</th><th>Type</th><th>State</th><th>Detail</th></tr></thead><tbody></tbody></table></section>
</main>
<main id="activity" hidden>
<div class="filters">
<label>Kind <select id="filter-kind" data-field="kind"></select></label>
<label>Session <select id="filter-session" data-field="session"></select></label>
<label>Chat <select id="filter-chat" data-field="chat"></select></label>
<label>Upstream <select id="filter-upstream" data-field="upstream"></select></label>
<label>Tool <select id="filter-tool" data-field="tool"></select></label>
<label>Outcome <select id="filter-outcome" data-field="outcome"></select></label>
<input id="filter-text" type="search" placeholder="Search arguments, ids, details…" aria-label="Search">
<button id="export-activity" title="Save the records this filter shows, every page, as JSON Lines">Export JSONL</button>
</div>
<div class="bar"><p id="activity-summary" class="muted">Waiting for the hub's activity…</p>
<div class="pager"><button id="page-newer">‹ Newer</button><span id="page-label"></span><button id="page-older">Older ›</button></div></div>
<div class="activity-layout">
<table id="activity-table"><thead><tr><th>Time</th><th>Session / chat</th><th>Tool</th><th>Outcome</th><th class="num">Latency</th></tr></thead><tbody></tbody></table>
<aside id="activity-details" hidden><div class="bar"><h2 id="details-title">Record</h2><button id="close-details">Close</button></div><dl></dl></aside>
</div>
</main>
<p id="result" role="status"></p>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}
