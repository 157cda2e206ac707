// Appliance events and alarms: a bounded ring of recent events that the console
// (`show log`), the web UI (Alarms page) and tests read, each also written to stderr
// with a syslog priority prefix (`<3>` error ... `<7>` debug) that journald parses.

export type Severity = "error" | "warning" | "notice" | "info" | "debug";
const priorityBySeverity: Record<Severity, number> = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 };

export interface ApplianceEvent {
  id: number;
  timeMs: number;
  severity: Severity;
  subsystem: string;         // "sync", "optimize", "store", "web", "console", "config"
  message: string;
  alarm?: string;            // stable alarm name, e.g. "peer_refused", "sync_behind"
}

/** Events kept in memory for the UI and console. */
export const eventsKeptMax = 1000;

export type EventListener = (event: ApplianceEvent) => void;

export class EventLog {
  private readonly ring: ApplianceEvent[] = [];
  private nextId = 1;
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly echoToStderr = true, private readonly minEchoSeverity: Severity = "info") {}

  emit(severity: Severity, subsystem: string, message: string, alarm?: string): ApplianceEvent {
    const event: ApplianceEvent = { id: this.nextId++, timeMs: Date.now(), severity, subsystem, message, alarm };
    this.ring.push(event);
    if (this.ring.length > eventsKeptMax) this.ring.shift();
    if (this.echoToStderr && priorityBySeverity[severity] <= priorityBySeverity[this.minEchoSeverity]) {
      process.stderr.write(`<${priorityBySeverity[severity]}>${subsystem}: ${message}\n`);
    }
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Events newer than `afterId`, oldest first, at most `limit`. */
  recent(limit = 100, afterId = 0): ApplianceEvent[] {
    const newer = this.ring.filter((e) => e.id > afterId);
    return newer.slice(Math.max(0, newer.length - limit));
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
