/** @jsxImportSource hono/jsx */
// Pages reachable without a session: first boot (set the admin password), login, and
// the refusal shown when first boot is opened from the network without the token.
import { BarePage } from "./layout.tsx";

export function LoginPage(props: { csrf: string; error?: string | null; username?: string; next?: string; notice?: string | null }) {
  return (
    <BarePage title="Log in">
      {props.notice ? <div class="flash ok" role="status">{props.notice}</div> : null}
      {props.error ? <div class="flash error" role="alert" data-flash="error">{props.error}</div> : null}
      <form class="stack" method="post" action="/login">
        <input type="hidden" name="_csrf" value={props.csrf} />
        {props.next ? <input type="hidden" name="next" value={props.next} /> : null}
        <label>
          User name
          <input type="text" name="username" autocomplete="username" value={props.username ?? "admin"} required />
        </label>
        <label>
          Password
          <input type="password" name="password" autocomplete="current-password" required autofocus />
        </label>
        <button type="submit">Log in</button>
      </form>
    </BarePage>
  );
}

export function FirstBootPage(props: { csrf: string; token: string | null; error?: string | null; passwordCharsMin: number; username: string }) {
  return (
    <BarePage title="Set the admin password">
      <p class="muted">
        This appliance has no admin password yet, so nothing else is reachable. Choose one now; there is no default
        password. User name: <strong>{props.username}</strong>.
      </p>
      {props.error ? <div class="flash error" role="alert" data-flash="error">{props.error}</div> : null}
      <form class="stack" method="post" action="/first-boot">
        <input type="hidden" name="_csrf" value={props.csrf} />
        {props.token ? <input type="hidden" name="token" value={props.token} /> : null}
        <input type="text" name="username" value={props.username} autocomplete="username" hidden readonly />
        <label>
          New password (at least {props.passwordCharsMin} characters)
          <input type="password" name="password" autocomplete="new-password" minlength={props.passwordCharsMin} required autofocus />
        </label>
        <label>
          Repeat the password
          <input type="password" name="confirm" autocomplete="new-password" minlength={props.passwordCharsMin} required />
        </label>
        <button type="submit">Set password</button>
      </form>
    </BarePage>
  );
}

export function FirstBootRefusedPage() {
  return (
    <BarePage title="First boot">
      <p>
        This appliance has no admin password yet. Set it from the appliance itself (a browser on the management
        address from loopback), or open the one-time link printed in the agent log and on the console
        (<code>show log</code>): <code>/first-boot?token=…</code>
      </p>
    </BarePage>
  );
}

export function ErrorPage(props: { status: number; message: string }) {
  return (
    <BarePage title={props.status === 404 ? "Not found" : "Error"}>
      <div class="flash error" role="alert">{props.message}</div>
      <p>
        <a href="/">Back to the dashboard</a>
      </p>
    </BarePage>
  );
}
