/** @jsxImportSource hono/jsx */
// The Settings page: the appliance settings that are not sync or in-path rules
// (host name, interfaces, ports, data store, service secret), one form per group.
// The fields and the console line each one becomes are declared once here
// (settingGroups); the route turns changed fields into lines for control.configure(),
// so the console's validation and messages are the only ones. Secrets are never
// written into the page: the form says only whether one is set.
import type { ApplianceConfig } from "../../agent/config/types.ts";
import { Csrf } from "./layout.tsx";

export interface SettingField {
  name: string;
  label: string;
  /** The running value as the form shows it ("" for none); secrets are never shown. */
  current(c: ApplianceConfig): string;
  /** The configuration line for a value the operator entered. */
  line(value: string): string;
  input: "text" | "number" | "address" | "secret" | { choices: [string, string][] };
  hint?: string;
}

export interface SettingGroup {
  id: string;
  title: string;
  what: string;
  fields: SettingField[];
}

const address = (name: "primary" | "aux" | "inpath", label: string, hint: string): SettingField => ({
  name, label, hint, input: "address",
  current: (c) => c.interfaces[name] ?? "",
  // The aux interface is optional: empty goes back to the primary address.
  line: (v) => (v === "" && name === "aux" ? "no interface aux address" : `interface ${name} address ${v}`),
});

export const settingGroups: SettingGroup[] = [
  {
    id: "appliance", title: "Appliance", what: "The name shown in the top bar, the console prompt and the logs.",
    fields: [{ name: "hostname", label: "Host name", input: "text", current: (c) => c.hostname, line: (v) => `hostname ${v}` }],
  },
  {
    id: "interfaces", title: "Interfaces", what: "IPv4 addresses this appliance uses.",
    fields: [
      address("primary", "Primary (management)", "the web UI listens here"),
      address("aux", "Aux (data store sync)", "optional; empty: the primary address"),
      address("inpath", "In-path", "inner channels and in-path rule listen ports"),
    ],
  },
  {
    id: "ports", title: "Ports", what: "TCP ports of the web UI and of the inner channels between appliances.",
    fields: [
      { name: "webPort", label: "Web port", input: "number", current: (c) => String(c.webPort), line: (v) => `web port ${v}` },
      { name: "servicePort", label: "Service port", input: "number", current: (c) => String(c.servicePort), line: (v) => `service port ${v}` },
    ],
  },
  {
    id: "datastore", title: "Data store", what: "How much the segment store holds and what it evicts when full.",
    fields: [
      { name: "capacityMb", label: "Capacity (MiB)", input: "number", current: (c) => String(c.datastore.capacityMb), line: (v) => `datastore capacity-mb ${v}` },
      {
        name: "policy", label: "Replacement policy", current: (c) => c.datastore.replacementPolicy, line: (v) => `datastore replacement-policy ${v}`,
        input: { choices: [["lru", "LRU: least recently used first"], ["fifo", "FIFO: oldest first"]] },
      },
    ],
  },
  {
    id: "optimization", title: "Optimization", what: "Inner channels are authenticated with this secret when it is set; both appliances need the same one.",
    fields: [{ name: "secret", label: "Service secret", input: "secret", current: () => "", line: (v) => `service secret ${v}` }],
  },
];

export type SettingValues = Record<string, string>;

/** What each form shows: the running values, or what the operator typed into `group`. */
export function settingValues(c: ApplianceConfig, typed?: { group: string; values: SettingValues }): Record<string, SettingValues> {
  const out: Record<string, SettingValues> = {};
  for (const g of settingGroups) {
    out[g.id] = {};
    for (const f of g.fields) out[g.id]![f.name] = g.id === typed?.group && f.input !== "secret" ? (typed.values[f.name] ?? "") : f.current(c);
  }
  return out;
}

function Field(props: { f: SettingField; value: string; secretSet: boolean }) {
  const { f, value } = props;
  const input = f.input;
  let control;
  if (typeof input === "object") {
    control = <select name={f.name}>{input.choices.map(([v, text]) => <option value={v} selected={v === value}>{text}</option>)}</select>;
  } else if (input === "secret") {
    control = <input type="password" name={f.name} value="" autocomplete="new-password" />;
  } else if (input === "number") {
    control = <input type="number" name={f.name} value={value} min="1" />;
  } else if (input === "address") {
    control = <input type="text" name={f.name} value={value} placeholder="A.B.C.D" inputmode="decimal" autocomplete="off" />;
  } else {
    control = <input type="text" name={f.name} value={value} autocomplete="off" />;
  }
  const hint = input === "secret" ? (props.secretSet ? "set; leave empty to keep it" : "not set") : f.hint;
  return (
    <label>
      <span>{f.label}{hint ? <span class="muted"> ({hint})</span> : null}</span>
      {control}
    </label>
  );
}

export function SettingsPage(props: {
  csrf: string;
  values: Record<string, SettingValues>;
  secretSet: boolean;
  error: { group: string; text: string } | null;
  restartRequired: string | null;
}) {
  return (
    <>
      {props.restartRequired ? (
        <div class="flash warn" role="status" data-testid="restart-required">
          Restart required: {props.restartRequired}. <strong>Restart service</strong> (top right) applies it.
        </div>
      ) : null}
      <p class="muted">
        Changes apply at once to the running configuration. <strong>Save</strong> (top right) writes it to the startup
        configuration (<code>write memory</code>), so it survives a reboot.
      </p>
      <div class="grid">
        {settingGroups.map((g) => (
          <section class="card" id={g.id} aria-labelledby={`h-${g.id}`}>
            <h2 id={`h-${g.id}`}>{g.title}</h2>
            <p class="muted">{g.what}</p>
            {props.error?.group === g.id ? <div class="flash error" role="alert" data-flash="error">{props.error.text}</div> : null}
            <form class="stack" method="post" action={`/settings/${g.id}`} novalidate>
              <Csrf token={props.csrf} />
              {g.fields.map((f) => <Field f={f} value={props.values[g.id]?.[f.name] ?? ""} secretSet={props.secretSet} />)}
              <div>
                <button type="submit">Apply</button>
              </div>
            </form>
            {g.id === "optimization" && props.secretSet ? (
              <form method="post" action="/settings/optimization/clear" class="mt" data-confirm="Clear the service secret? Inner channels are then not authenticated; peers that still have a secret refuse them.">
                <Csrf token={props.csrf} />
                <button type="submit" class="danger">Clear secret</button>
              </form>
            ) : null}
          </section>
        ))}
      </div>
    </>
  );
}
