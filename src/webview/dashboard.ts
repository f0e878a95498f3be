/** The dashboard page: renders what the extension sends; every action is a typed message back. */
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

window.addEventListener('message', (event: MessageEvent<ToDashboard>) => {
  const message = event.data;
  if (message.type === 'state') render(message.view);
  if (message.type === 'disconnected') byId('hub').textContent = `Not connected: ${message.reason}`;
  if (message.type === 'result') {
    const result = byId('result');
    result.textContent = message.message;
    result.className = message.ok ? 'ok' : 'bad';
  }
});
byId('kill-all').addEventListener('click', () => send({ type: 'killAllSessions' }));
byId('release-all').addEventListener('click', () => send({ type: 'releaseAllTombstones' }));
send({ type: 'ready' });
