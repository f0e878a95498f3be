import * as vscode from 'vscode';
import { defaultActivitySettings } from '../core/infra/activity';
import { errorMessage, type Logger } from '../core/infra/logger';
import { ActivityList } from '../ui/activityList';
import { activityDetails, activityJsonl, buildActivityView, defaultActivityQuery, filterActivity, relatedRecords, type ActivityQuery } from '../ui/activityView';
import type { ToDashboard } from '../ui/messages';
import type { HubController } from './hubController';

/** Records arriving in a burst are shown together: at most one page sent per this many ms. */
const pushIntervalMs = 250;

/**
 * The dashboard's Activity view, host side: follows the hub's activity stream while the panel
 * lives, keeps a bounded list (the size of the hub's own ring buffer), and sends the page the
 * webview asked for. Filtering and paging happen here, so the webview renders one page only.
 */
export class DashboardActivity implements vscode.Disposable {
  private readonly list = new ActivityList(defaultActivitySettings.bufferSize);
  private query: ActivityQuery = defaultActivityQuery;
  private page = 0;
  /** Set once the page shows the Activity view; until then records are only kept. */
  private shown = false;
  private pushTimer?: NodeJS.Timeout;
  private following?: { dispose(): void };
  private readonly modeSubscription: vscode.Disposable;

  constructor(
    private readonly controller: HubController,
    private readonly post: (message: ToDashboard) => void,
    private readonly logger: Logger,
  ) {
    this.follow();
    // A new hub (hosted here after a takeover, or attached): follow its stream instead.
    this.modeSubscription = controller.onDidChangeMode(() => this.follow());
  }

  private follow(): void {
    this.following?.dispose();
    this.following = undefined;
    const client = this.controller.client;
    if (!client) return;
    let lostLogged = false;
    this.following = client.followActivity(
      (record) => {
        if (this.list.add(record)) this.schedulePush();
      },
      () => {
        // Each connection starts with the hub's whole backlog again.
        this.list.clear();
        lostLogged = false;
        this.schedulePush();
      },
      (error) => {
        if (!lostLogged) this.logger.warn(`activity stream: ${errorMessage(error)}`);
        lostLogged = true;
      },
    );
  }

  /** The page reloaded: it shows the overview until it asks for activity again. */
  reset(): void {
    this.shown = false;
  }

  setQuery(query: ActivityQuery, page: number): void {
    this.query = query;
    this.page = page;
    this.shown = true;
    this.push();
  }

  showDetails(seq: number): void {
    const record = this.list.find(seq);
    this.post({ type: 'activityDetails', seq, details: record ? activityDetails(record, relatedRecords(this.list.records, record)) : [] });
  }

  /** The records the current query shows, oldest first, as JSON Lines. */
  exportText(): { text: string; count: number } {
    const records = filterActivity(this.list.records, this.query).reverse();
    return { text: activityJsonl(records), count: records.length };
  }

  /** Asks where to save the filtered records and writes them there; the file's path, or undefined when cancelled. */
  async export(): Promise<{ path: string; count: number } | undefined> {
    const { text, count } = this.exportText();
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: `Export ${count} activity records`,
      saveLabel: 'Export',
      filters: { 'JSON Lines': ['jsonl'] },
      ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, `hub-activity-${stamp}.jsonl`) } : {}),
    });
    if (!target) return undefined;
    await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
    return { path: target.fsPath, count };
  }

  private schedulePush(): void {
    if (!this.shown || this.pushTimer) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      this.push();
    }, pushIntervalMs);
  }

  private push(): void {
    if (!this.shown) return;
    const view = buildActivityView(this.list.records, this.query, this.page);
    this.page = view.page;
    this.post({ type: 'activity', view });
  }

  dispose(): void {
    clearTimeout(this.pushTimer);
    this.following?.dispose();
    this.modeSubscription.dispose();
    this.list.clear();
  }
}
