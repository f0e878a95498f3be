import Redis from 'ioredis';
import { errorMessage, type Logger } from '../core/infra/logger';
import type { Ending, RemoteOwner, SharedOwnership } from '../core/sessions/ownershipLedger';
import { containersOf, isContainerKind, type CanonicalForm } from '../core/sessions/spelling';

/**
 * Ownership shared by every hub process on one Redis: who owns what is decided there, so two
 * replicas enforce one set of owners. Claims are one Lua script each (checked and written
 * atomically on the server: exactly one of any number of racing sessions wins); lookups are one
 * script per call. Every key starts with the configured prefix, so several hubs' configs can
 * share a Redis.
 *
 * Keys: `<p>o:<upstream>\0<kind>\0<canonical>` the owner (JSON), `<p>z:<upstream>\0<kind>` the
 * owned paths and URIs (a sorted set read by range for "anything inside this folder"),
 * `<p>s:<session>` a session's owner keys, `<p>e:<session>` its ending once it ended.
 *
 * While Redis cannot be reached, `problem` says so and every call safe mode must judge is
 * refused; ioredis reconnects by itself and the hub recovers with it.
 */
export class RedisOwnership implements SharedOwnership {
  private readonly redis: Redis;
  private problemValue: string | undefined = 'not connected to Redis yet';
  readonly description: string;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.description = withoutCredentials(url);
    // No offline queue: a command while Redis is away fails at once, and safe mode refuses.
    this.redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false, retryStrategy: (times) => Math.min(times * 200, 2_000) });
    this.redis.on('ready', () => {
      if (this.problemValue) logger.info(`ownership store ${this.description}: connected`);
      this.problemValue = undefined;
    });
    this.redis.on('error', (error: Error) => {
      if (!this.problemValue) logger.error(`ownership store ${this.description} unavailable: ${errorMessage(error)}`);
      this.problemValue = `ownership store unavailable (${this.description}: ${errorMessage(error)})`;
    });
    this.redis.on('end', () => {
      this.problemValue = `ownership store unavailable (${this.description}: connection closed)`;
    });
    this.redis.defineCommand('hubForeignOwner', { numberOfKeys: 0, lua: foreignOwnerScript });
    this.redis.defineCommand('hubClaim', { numberOfKeys: 0, lua: claimScript });
  }

  get problem(): string | undefined {
    return this.problemValue;
  }

  async foreignOwner(upstream: string, forms: readonly CanonicalForm[], session: string): Promise<RemoteOwner | undefined> {
    if (forms.length === 0) return undefined;
    const args = forms.flatMap((form) => this.formArgs(upstream, form));
    return parseOwner(await this.guarded('look-up', () => this.scripts.hubForeignOwner(this.prefix, session, ...args)));
  }

  async claim(upstream: string, form: CanonicalForm, entry: { session: string; value: string; tool: string; at: number }): Promise<RemoteOwner | undefined> {
    const owner = JSON.stringify({ s: entry.session, v: entry.value, t: entry.tool, a: entry.at });
    return parseOwner(await this.guarded('claim', () => this.scripts.hubClaim(this.prefix, entry.session, owner, ...this.formArgs(upstream, form))));
  }

  async forget(upstream: string, form: CanonicalForm, session: string): Promise<void> {
    const key = this.ownerKey(upstream, form);
    const owner = await this.guarded('look-up', () => this.redis.get(key));
    if (!owner || (JSON.parse(owner) as { s?: string }).s !== session) return;
    await this.guarded('release', () => this.dropKey(key, session));
  }

  async end(session: string, ending: Ending): Promise<void> {
    await this.guarded('end', () => this.redis.set(`${this.prefix}e:${session}`, JSON.stringify(ending)));
  }

  async revive(session: string): Promise<void> {
    await this.guarded('revive', () => this.redis.del(`${this.prefix}e:${session}`));
  }

  /** Frees what an ended session owned, for every hub; returns how many identifiers. */
  async releaseSession(session: string): Promise<number> {
    return this.guarded('release', async () => {
      if (!(await this.redis.exists(`${this.prefix}e:${session}`))) return 0;
      const keys = await this.redis.smembers(`${this.prefix}s:${session}`);
      for (const key of keys) await this.dropKey(key, session);
      await this.redis.del(`${this.prefix}s:${session}`, `${this.prefix}e:${session}`);
      return keys.length;
    });
  }

  /** Frees one identifier if an ended session owns it; returns 1 if it did. */
  async releaseOne(upstream: string, form: CanonicalForm): Promise<number> {
    return this.guarded('release', async () => {
      const key = this.ownerKey(upstream, form);
      const owner = await this.redis.get(key);
      const session = owner ? (JSON.parse(owner) as { s?: string }).s : undefined;
      if (!session || !(await this.redis.exists(`${this.prefix}e:${session}`))) return 0;
      await this.dropKey(key, session);
      return 1;
    });
  }

  /** Frees what every ended session owned; returns how many identifiers. */
  async releaseAllEnded(): Promise<number> {
    let freed = 0;
    const endings = await this.guarded('release', () => this.redis.keys(`${escapeGlob(this.prefix)}e:*`));
    for (const key of endings) freed += await this.releaseSession(key.slice(this.prefix.length + 2));
    return freed;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private async dropKey(key: string, session: string): Promise<void> {
    const [upstream, kind, canonical] = key.slice(this.prefix.length + 2).split('\u0000');
    const pipeline = this.redis.multi().del(key).srem(`${this.prefix}s:${session}`, key);
    if (upstream !== undefined && canonical !== undefined && (kind === 'path' || kind === 'uri')) pipeline.zrem(`${this.prefix}z:${upstream}\u0000${kind}`, canonical);
    await pipeline.exec();
  }

  private ownerKey(upstream: string, form: CanonicalForm): string {
    return `${this.prefix}o:${upstream}\u0000${form.kind}\u0000${form.canonical}`;
  }

  /** What the scripts read of one form: its key, its folder set (or ''), its canonical form, and the keys of the folders it is in. */
  private formArgs(upstream: string, form: CanonicalForm): string[] {
    const containers = containersOf(form.kind, form.canonical).map((container) => this.ownerKey(upstream, { kind: form.kind, canonical: container }));
    const zset = isContainerKind(form.kind) ? `${this.prefix}z:${upstream}\u0000${form.kind}` : '';
    return [this.ownerKey(upstream, form), zset, form.canonical, String(containers.length), ...containers];
  }

  private get scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  /** Runs a command while Redis is there; anything else is "ownership store unavailable", and safe mode refuses. */
  private async guarded<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.problemValue !== undefined) throw new Error(this.problemValue);
    try {
      return await run();
    } catch (error) {
      this.logger.warn(`ownership store ${this.description}: ${what} failed: ${errorMessage(error)}`);
      throw new Error(`ownership store unavailable (${this.description}: ${errorMessage(error)})`);
    }
  }
}

/** The Lua scripts defined on the connection. */
type Scripts = {
  hubForeignOwner(...args: string[]): Promise<unknown>;
  hubClaim(...args: string[]): Promise<unknown>;
};

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The URL as it may be shown: no user or password. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'redis (unparsable URL)';
  }
}

function parseOwner(reply: unknown): RemoteOwner | undefined {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') return undefined;
  const ending = typeof reply[1] === 'string' && reply[1] !== '' ? (JSON.parse(reply[1]) as Ending) : undefined;
  return { session: reply[0], ...(ending ? { ending } : {}) };
}

/**
 * Shared by both scripts: `find(prefix, session, i)` reads the form whose arguments start at
 * ARGV[i] (key, folder set, canonical, n, n folder keys) and returns the first owner other than
 * `session` of it, a folder it is in, or something inside it, with that owner's ending; and the
 * index of the next form's arguments.
 */
const findOwner = `
local function owner_of(value, session)
  if not value then return nil end
  local owner = cjson.decode(value).s
  if owner ~= session then return owner end
  return nil
end
local function find(prefix, session, i)
  local key, zset, canonical, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local found = owner_of(redis.call('GET', key), session)
  for j = 1, n do
    if found then break end
    found = owner_of(redis.call('GET', ARGV[i + 3 + j]), session)
  end
  if not found and zset ~= '' then
    local base = canonical
    if string.sub(base, -1) ~= '/' then base = base .. '/' end
    local inside = redis.call('ZRANGEBYLEX', zset, '[' .. base, '[' .. base .. '\\255')
    local head = string.sub(key, 1, string.len(key) - string.len(canonical))
    for _, member in ipairs(inside) do
      found = owner_of(redis.call('GET', head .. member), session)
      if found then break end
    end
  end
  return found, i + 4 + n
end
local function answer(prefix, owner)
  return { owner, redis.call('GET', prefix .. 'e:' .. owner) or '' }
end
`;

const foreignOwnerScript = `${findOwner}
local prefix, session = ARGV[1], ARGV[2]
local i = 3
while i <= #ARGV do
  local owner
  owner, i = find(prefix, session, i)
  if owner then return answer(prefix, owner) end
end
return nil
`;

const claimScript = `${findOwner}
local prefix, session, entry = ARGV[1], ARGV[2], ARGV[3]
local owner = find(prefix, session, 4)
if owner then return answer(prefix, owner) end
local key, zset, canonical = ARGV[4], ARGV[5], ARGV[6]
redis.call('SET', key, entry)
if zset ~= '' then redis.call('ZADD', zset, 0, canonical) end
redis.call('SADD', prefix .. 's:' .. session, key)
return nil
`;
