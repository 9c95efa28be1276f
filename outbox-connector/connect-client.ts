/** Kafka Connect REST API: idempotent connector registration and status. */
import { SagalineError } from '../core/errors.ts';
import { waitFor } from '../core/wait.ts';

export class ConnectError extends SagalineError {
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super('CONNECT_FAILED', message, options);
  }
}

export type ConnectorConfig = Record<string, string>;

export interface ConnectorStatus {
  name: string;
  connector: { state: string; trace?: string };
  tasks: { id: number; state: string; trace?: string }[];
}

export class ConnectClient {
  private readonly baseUrls: readonly string[];
  /** The worker that answered last: asked first next time. */
  private current = 0;

  /** One worker's REST address, or every worker's of one Connect cluster: any of them answers for the cluster. */
  constructor(baseUrl: string | readonly string[]) {
    this.baseUrls = typeof baseUrl === 'string' ? [baseUrl] : [...baseUrl];
    if (this.baseUrls.length === 0) throw new ConnectError('no Kafka Connect address given');
  }

  /** Sends to the worker that answered last; when it is unreachable, to the next, until one answers. */
  private async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const failures: string[] = [];
    for (let k = 0; k < this.baseUrls.length; k++) {
      const i = (this.current + k) % this.baseUrls.length;
      const baseUrl = this.baseUrls[i]!;
      let res: Response;
      try {
        res = await fetch(`${baseUrl}${path}`, {
          method,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        failures.push(`${baseUrl}: ${(err as Error).message}`);
        continue;
      }
      this.current = i;
      const text = await res.text();
      const json = text ? (JSON.parse(text) as unknown) : undefined;
      return { status: res.status, json };
    }
    throw new ConnectError(`Kafka Connect is unreachable (${failures.join('; ')})`, { retriable: true });
  }

  /** Creates the connector, or updates its configuration when it differs. Returns what it did. */
  async upsert(name: string, config: ConnectorConfig): Promise<'created' | 'updated' | 'unchanged'> {
    const current = await this.request('GET', `/connectors/${encodeURIComponent(name)}/config`);
    if (current.status === 200) {
      const existing = current.json as ConnectorConfig;
      const same = Object.entries({ ...config, name }).every(([k, v]) => existing[k] === v) && Object.keys(existing).every((k) => k === 'name' || k in config);
      if (same) return 'unchanged';
    }
    const res = await this.request('PUT', `/connectors/${encodeURIComponent(name)}/config`, config);
    if (res.status !== 200 && res.status !== 201) {
      const message = (res.json as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`;
      throw new ConnectError(`Kafka Connect refused connector ${name}: ${message}`, { retriable: res.status >= 500 });
    }
    return current.status === 200 ? 'updated' : 'created';
  }

  async status(name: string): Promise<ConnectorStatus | undefined> {
    const res = await this.request('GET', `/connectors/${encodeURIComponent(name)}/status`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new ConnectError(`status of connector ${name}: HTTP ${res.status}`, { retriable: true });
    return res.json as ConnectorStatus;
  }

  /** Restarts the connector's failed instances (connector and tasks). */
  async restart(name: string): Promise<void> {
    const res = await this.request('POST', `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`);
    if (res.status !== 200 && res.status !== 202 && res.status !== 204) throw new ConnectError(`restarting connector ${name}: HTTP ${res.status}`, { retriable: res.status >= 500 });
  }

  /** Asks Connect to stop the connector and its tasks (Kafka Connect 3.5+); its configuration stays. See waitStopped. */
  async stop(name: string): Promise<void> {
    const res = await this.request('PUT', `/connectors/${encodeURIComponent(name)}/stop`);
    if (res.status !== 202 && res.status !== 204) throw new ConnectError(`stopping connector ${name}: HTTP ${res.status} ${JSON.stringify(res.json ?? '')}`, { retriable: res.status >= 500 });
  }

  /** Waits until the connector is STOPPED and none of its tasks runs. */
  async waitStopped(name: string, timeoutMs: number): Promise<void> {
    await waitFor(
      `connector ${name} to be STOPPED`,
      async () => {
        const status = await this.status(name);
        return status?.connector.state === 'STOPPED' && status.tasks.every((t) => t.state !== 'RUNNING');
      },
      { timeoutMs, intervalMs: 500 },
    );
  }

  /** Starts a stopped (or paused) connector again. */
  async resume(name: string): Promise<void> {
    const res = await this.request('PUT', `/connectors/${encodeURIComponent(name)}/resume`);
    if (res.status !== 202 && res.status !== 204) throw new ConnectError(`resuming connector ${name}: HTTP ${res.status}`, { retriable: res.status >= 500 });
  }

  /** The source offsets Connect has committed for the connector (Kafka Connect 3.5+). */
  async offsets(name: string): Promise<{ partition: Record<string, unknown>; offset: Record<string, unknown> }[]> {
    const res = await this.request('GET', `/connectors/${encodeURIComponent(name)}/offsets`);
    if (res.status !== 200) throw new ConnectError(`offsets of connector ${name}: HTTP ${res.status}`, { retriable: res.status >= 500 });
    return (res.json as { offsets?: { partition: Record<string, unknown>; offset: Record<string, unknown> }[] }).offsets ?? [];
  }

  /** Forgets the connector's committed offsets, so it starts afresh (it must be STOPPED; refused while a task still stops, so retried). */
  async resetOffsets(name: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `Kafka Connect to reset the offsets of connector ${name}`,
      async () => {
        const res = await this.request('DELETE', `/connectors/${encodeURIComponent(name)}/offsets`);
        if (res.status === 200) return true;
        const message = (res.json as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`;
        throw new ConnectError(`resetting the offsets of connector ${name}: ${message}`, { retriable: true });
      },
      { timeoutMs, intervalMs: 1_000 },
    );
  }

  async delete(name: string): Promise<void> {
    const res = await this.request('DELETE', `/connectors/${encodeURIComponent(name)}`);
    if (res.status !== 204 && res.status !== 404) throw new ConnectError(`deleting connector ${name}: HTTP ${res.status}`);
  }

  /**
   * Waits until the connector and all its tasks are RUNNING; a FAILED task fails the wait with its
   * trace — at once, or once `failedGraceMs` have passed (a status read right after a restart or a
   * new configuration may still show the instance that failed before).
   */
  async waitRunning(name: string, timeoutMs: number, failedGraceMs = 0): Promise<ConnectorStatus> {
    const since = Date.now();
    return waitFor(
      `connector ${name} and its tasks to be RUNNING`,
      async () => {
        const status = await this.status(name);
        if (!status) return false;
        const failed = [status.connector, ...status.tasks].find((s) => s.state === 'FAILED');
        if (failed && Date.now() - since >= failedGraceMs) throw new ConnectError(`connector ${name} FAILED: ${(failed.trace ?? '').split('\n')[0]}`);
        if (failed) return false;
        const running = status.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING');
        return running ? status : false;
      },
      { timeoutMs, intervalMs: 500 },
    ).catch((err: unknown) => {
      throw err instanceof ConnectError ? err : new ConnectError((err as Error).message, { cause: err });
    });
  }
}
