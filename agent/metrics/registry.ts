// Counters, gauges and histograms with Prometheus text exposition. Names follow
// tandem_<subsystem>_<name>_<unit>[_total], in base units (bytes, seconds).
// Gauges may be read lazily through a callback so services need not push values; a
// service created again (restart) registers again, and its callback replaces the old.

type Labels = Record<string, string>;

interface Metric {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  render(): string[];
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`).join(",")}}`;
}

export class Counter implements Metric {
  readonly type = "counter";
  private value = 0;
  constructor(readonly name: string, readonly help: string) {}
  inc(by = 1): void {
    this.value += by;
  }
  get(): number {
    return this.value;
  }
  render(): string[] {
    return [`${this.name} ${this.value}`];
  }
}

export class Gauge implements Metric {
  readonly type = "gauge";
  private value = 0;
  constructor(readonly name: string, readonly help: string, public read?: () => number) {}
  set(value: number): void {
    this.value = value;
  }
  get(): number {
    return this.read ? this.read() : this.value;
  }
  render(): string[] {
    return [`${this.name} ${this.get()}`];
  }
}

export interface LabeledValue {
  labels: Labels;
  value: number;
}

/** A gauge with one series per label set, all read at exposition time. */
export class GaugeFamily implements Metric {
  readonly type = "gauge";
  constructor(readonly name: string, readonly help: string, public read: () => LabeledValue[]) {}
  render(): string[] {
    return this.read().map((v) => `${this.name}${labelText(v.labels)} ${v.value}`);
  }
}

export class Histogram implements Metric {
  readonly type = "histogram";
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly bounds: number[]) {
    this.counts = new Array(bounds.length).fill(0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) this.counts[i]!++;
  }
  /** Approximate quantile from the buckets (upper bound of the bucket that holds it). */
  quantile(q: number): number {
    const target = q * this.count;
    for (let i = 0; i < this.bounds.length; i++) if (this.counts[i]! >= target) return this.bounds[i]!;
    return Infinity;
  }
  render(): string[] {
    const lines = this.bounds.map((b, i) => `${this.name}_bucket${labelText({ le: String(b) })} ${this.counts[i]}`);
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private add<T extends Metric>(metric: T): T {
    if (!/^tandem_[a-z0-9_]+$/.test(metric.name)) throw new Error(`bad metric name ${metric.name}`);
    const existing = this.metrics.get(metric.name);
    if (existing) return existing as T;
    this.metrics.set(metric.name, metric);
    return metric;
  }

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, read?: () => number): Gauge {
    const g = this.add(new Gauge(name, help, read));
    if (read) g.read = read;
    return g;
  }
  gaugeFamily(name: string, help: string, read: () => LabeledValue[]): GaugeFamily {
    const g = this.add(new GaugeFamily(name, help, read));
    g.read = read;
    return g;
  }
  histogram(name: string, help: string, bounds: number[]): Histogram {
    return this.add(new Histogram(name, help, bounds));
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const metric of [...this.metrics.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      out.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} ${metric.type}`, ...metric.render());
    }
    return out.join("\n") + "\n";
  }
}
