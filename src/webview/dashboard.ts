/** The dashboard page: renders what the extension sends; every action is a typed message back. */
import type { ActivityDetail, ActivityQuery, ActivityView, FilterOption } from '../ui/activityView';
import type { DashboardView } from '../ui/dashboardModel';
import type { FromDashboard, ToDashboard } from '../ui/messages';

declare function acquireVsCodeApi(): { postMessage(message: FromDashboard): void };
const vscodeApi = acquireVsCodeApi();
const send = (message: FromDashboard) => vscodeApi.postMessage(message);

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render(view: DashboardView): void {
  byId('hub').textContent = `${view.hub.url} · v${view.hub.version} · up ${view.hub.uptime} · ${view.hub.configSource}${view.hub.configError ? ` · config error: ${view.hub.configError}` : ''} · ${view.hub.ownershipProblem ? `safe mode refuses every judged call: ${view.hub.ownershipProblem}` : view.hub.ownership}`;
  const sessions = byId<HTMLTableElement>('sessions').tBodies[0];
  sessions.replaceChildren(
    ...view.sessions.map((s) => {
      const row = document.createElement('tr');
      row.dataset.sessionId = s.id;
      const kill = document.createElement('button');
      kill.textContent = 'Kill';
      kill.className = 'danger kill-session';
      kill.title = `End session ${s.id}`;
      kill.addEventListener('click', () => send({ type: 'killSession', sessionId: s.id }));
      const actions = document.createElement('td');
      actions.append(kill);
      row.append(
        cell(s.chatOf ? `↳ ${s.who}` : s.who),
        cell(s.virtualServers),
        cell(s.transports),
        cell(`${s.calls}${s.errors ? ` (${s.errors} errors)` : ''}`),
        cell(s.averageLatencyMs === null ? '–' : `${s.averageLatencyMs} ms`),
        cell(s.age),
        cell(s.instances.join(', ') || '–'),
        cell(String(s.ownedIds)),
        actions,
      );
      return row;
    }),
  );
  byId('no-sessions').hidden = view.sessions.length > 0;
  const tombstones = byId<HTMLTableElement>('tombstones').tBodies[0];
  tombstones.replaceChildren(
    ...view.tombstones.map((t) => {
      const row = document.createElement('tr');
      const release = document.createElement('button');
      release.textContent = 'Release';
      release.className = 'danger';
      release.title = `Release what session ${t.session} owned`;
      release.addEventListener('click', () => send({ type: 'releaseTombstone', sessionId: t.session }));
      const actions = document.createElement('td');
      actions.append(release);
      row.append(cell(t.session), cell(t.ended), cell(t.reason), cell(t.owned.slice(0, 5).join(', ') + (t.owned.length > 5 ? ` and ${t.owned.length - 5} more` : '')), actions);
      return row;
    }),
  );
  byId('tombstones-section').hidden = view.tombstones.length === 0;
  const upstreams = byId<HTMLTableElement>('upstreams').tBodies[0];
  upstreams.replaceChildren(
    ...view.upstreams.map((u) => {
      const row = document.createElement('tr');
      row.append(cell(u.id), cell(u.type), cell(u.state, u.healthy ? 'ok' : 'bad'), cell(u.detail));
      if (u.needsSignIn) {
        const signIn = document.createElement('button');
        signIn.textContent = 'Sign in';
        signIn.className = 'sign-in';
        signIn.title = `Open the sign-in page of ${u.id}`;
        signIn.addEventListener('click', () => send({ type: 'signIn', upstream: u.id }));
        const actions = document.createElement('td');
        actions.append(signIn);
        row.append(actions);
      }
      return row;
    }),
  );
}

/** The Activity view: the host filters and pages; this renders the one page it sends. */
const activity = {
  query: { kind: 'call' } as ActivityQuery,
  page: 0,
  pages: 1,
  selected: undefined as number | undefined,
  /** Each menu's options as last rendered: rebuilt only when they change, so an open menu stays open. */
  optionKeys: new Map<string, string>(),
};
const filterFields = ['kind', 'session', 'chat', 'upstream', 'tool', 'outcome'] as const;
const anyLabel: Record<(typeof filterFields)[number], string> = { kind: 'all kinds', session: 'any session', chat: 'any chat', upstream: 'any upstream', tool: 'any tool', outcome: 'any outcome' };

const askActivity = () => send({ type: 'activityQuery', query: activity.query, page: activity.page });

function renderOptions(field: (typeof filterFields)[number], options: FilterOption[], value: string | undefined): void {
  const select = byId<HTMLSelectElement>(`filter-${field}`);
  // A chosen value the kept records no longer hold stays listed, so the menu shows the filter in force.
  const all = value && !options.some((option) => option.value === value) ? [...options, { value, label: value }] : options;
  const key = JSON.stringify(all);
  if (activity.optionKeys.get(field) !== key) {
    activity.optionKeys.set(field, key);
    select.replaceChildren(new Option(anyLabel[field], ''), ...all.map((option) => new Option(option.label, option.value)));
  }
  select.value = value ?? '';
}

function renderActivity(view: ActivityView): void {
  activity.page = view.page;
  activity.pages = view.pages;
  for (const field of filterFields) renderOptions(field, view.options[field], view.query[field]);
  const first = view.page * view.pageSize + 1;
  byId('activity-summary').textContent =
    view.matched === 0 ? `No records match (${view.kept} kept).` : `${first}–${first + view.rows.length - 1} of ${view.matched} matching, newest first (${view.kept} kept).`;
  byId('page-label').textContent = `page ${view.page + 1} of ${view.pages}`;
  byId<HTMLButtonElement>('page-newer').disabled = view.page === 0;
  byId<HTMLButtonElement>('page-older').disabled = view.page >= view.pages - 1;
  byId<HTMLTableElement>('activity-table').tBodies[0].replaceChildren(
    ...view.rows.map((r) => {
      const row = document.createElement('tr');
      row.dataset.seq = String(r.seq);
      row.tabIndex = 0;
      row.className = `record${r.seq === activity.selected ? ' selected' : ''}`;
      row.append(cell(r.time, 'time'), cell(r.who), cell(r.what), cell(r.outcome, `outcome ${r.tone}`), cell(r.latency, 'num'));
      return row;
    }),
  );
}

function renderDetails(seq: number, details: ActivityDetail[]): void {
  const aside = byId('activity-details');
  aside.hidden = false;
  byId('details-title').textContent = `Record #${seq}`;
  const list = aside.querySelector('dl');
  if (!list) return;
  if (details.length === 0) {
    list.replaceChildren(Object.assign(document.createElement('dd'), { textContent: 'This record is no longer kept.' }));
    return;
  }
  list.replaceChildren(
    ...details.flatMap((detail) => {
      const term = document.createElement('dt');
      term.textContent = detail.label;
      const value = document.createElement('dd');
      if (detail.value.includes('\n')) value.append(Object.assign(document.createElement('pre'), { textContent: detail.value }));
      else value.textContent = detail.value;
      if (detail.tone) value.className = `outcome ${detail.tone}`;
      return [term, value];
    }),
  );
}

function showTab(tab: 'overview' | 'activity'): void {
  // The last action's result belongs to the tab it was taken on.
  byId('result').textContent = '';
  byId('overview').hidden = tab !== 'overview';
  byId('activity').hidden = tab !== 'activity';
  byId('tab-overview').setAttribute('aria-selected', String(tab === 'overview'));
  byId('tab-activity').setAttribute('aria-selected', String(tab === 'activity'));
  if (tab === 'activity') askActivity();
}

window.addEventListener('message', (event: MessageEvent<ToDashboard>) => {
  const message = event.data;
  if (message.type === 'state') render(message.view);
  if (message.type === 'activity') renderActivity(message.view);
  if (message.type === 'activityDetails' && message.seq === activity.selected) renderDetails(message.seq, message.details);
  if (message.type === 'disconnected') byId('hub').textContent = `Not connected: ${message.reason}`;
  if (message.type === 'result') {
    const result = byId('result');
    result.textContent = message.message;
    result.className = message.ok ? 'ok' : 'bad';
  }
});
byId('kill-all').addEventListener('click', () => send({ type: 'killAllSessions' }));
byId('release-all').addEventListener('click', () => send({ type: 'releaseAllTombstones' }));
byId('tab-overview').addEventListener('click', () => showTab('overview'));
byId('tab-activity').addEventListener('click', () => showTab('activity'));
for (const field of filterFields) {
  byId<HTMLSelectElement>(`filter-${field}`).addEventListener('change', (event) => {
    const value = (event.target as HTMLSelectElement).value;
    activity.query = { ...activity.query, [field]: value || undefined };
    activity.page = 0;
    askActivity();
  });
}
let searchTimer: ReturnType<typeof setTimeout> | undefined;
byId<HTMLInputElement>('filter-text').addEventListener('input', (event) => {
  const text = (event.target as HTMLInputElement).value;
  // Asked once typing pauses: each query filters every kept record.
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    activity.query = { ...activity.query, text: text || undefined };
    activity.page = 0;
    askActivity();
  }, 200);
});
byId('page-newer').addEventListener('click', () => {
  activity.page = Math.max(0, activity.page - 1);
  askActivity();
});
byId('page-older').addEventListener('click', () => {
  activity.page = Math.min(activity.pages - 1, activity.page + 1);
  askActivity();
});
byId('export-activity').addEventListener('click', () => send({ type: 'exportActivity' }));
const openRecord = (target: EventTarget | null) => {
  const row = (target as HTMLElement | null)?.closest<HTMLTableRowElement>('tr.record');
  if (!row?.dataset.seq) return;
  activity.selected = Number(row.dataset.seq);
  for (const other of row.parentElement?.children ?? []) other.classList.toggle('selected', other === row);
  send({ type: 'activityDetails', seq: activity.selected });
};
// One listener for the whole table: rows are replaced on every page the host sends.
byId('activity-table').addEventListener('click', (event) => openRecord(event.target));
byId('activity-table').addEventListener('keydown', (event) => {
  if (event.key === 'Enter') openRecord(event.target);
});
byId('close-details').addEventListener('click', () => {
  activity.selected = undefined;
  byId('activity-details').hidden = true;
  for (const row of byId<HTMLTableElement>('activity-table').tBodies[0].rows) row.classList.remove('selected');
});
send({ type: 'ready' });
