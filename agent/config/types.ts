// The shape of an appliance's configuration. The text form (one configuration-mode
// console command per line, grammar in README "Configuration") is parsed into this
// object and rendered back from it by agent/config; every service reads only this.

export interface InPathRule {
  listenPort: number;
  dstAddr: string;
  dstPort: number;
  targetAddr: string;
  targetPort: number;        // default servicePort default (7800)
  backupAddr: string | null;
  backupPort: number | null; // null = same as targetPort default
}

export type ReplacementPolicy = "lru" | "fifo";
export type SyncMode = "async" | "sync";

export interface SyncConfig {
  enabled: boolean;
  master: boolean;           // false = backup
  peerIp: string | null;
  port: number;              // default 7744
  mode: SyncMode;            // default async
  secret: string | null;
  reconnectS: number;        // default 5
  checkIntervalS: number;    // default 300
}

export interface ApplianceConfig {
  hostname: string;
  interfaces: {
    primary: string;         // management: web UI listens here
    aux: string | null;      // data store sync listens and connects from here (null: primary)
    inpath: string;          // inner channels and in-path rule listeners
  };
  webPort: number;           // default 8080
  servicePort: number;       // inner-channel port, default 7800
  /** Shared secret that authenticates inner channels (HMAC challenge, both ways); absent
   *  or null: channels are not authenticated. Proposed grammar: `service secret TEXT`. */
  serviceSecret?: string | null;
  datastore: {
    capacityMb: number;
    replacementPolicy: ReplacementPolicy;
    sync: SyncConfig;
  };
  inPathRules: InPathRule[];
}

export const defaultConfig: ApplianceConfig = {
  hostname: "tandem",
  interfaces: { primary: "127.0.0.1", aux: null, inpath: "127.0.0.1" },
  webPort: 8080,
  servicePort: 7800,
  datastore: {
    capacityMb: 1024,
    replacementPolicy: "lru",
    sync: {
      enabled: false, master: false, peerIp: null, port: 7744, mode: "async",
      secret: null, reconnectS: 5, checkIntervalS: 300,
    },
  },
  inPathRules: [],
};

export function cloneConfig(config: ApplianceConfig): ApplianceConfig {
  return structuredClone(config);
}
