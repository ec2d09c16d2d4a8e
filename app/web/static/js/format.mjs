// Numbers, times and disconnect reasons as the admin page shows them. Pure functions.

const REASONS = {
  user_hangup: "The caller hung up",
  client_gone: "The caller's page was closed",
  connection_lost: "The connection was lost",
  idle_timeout: "Nothing heard from the caller (idle timeout)",
  max_duration: "The call reached its maximum length",
  upstream_unavailable: "The AI model could not be reached",
  upstream_closed: "The AI model ended the session",
  upstream_error: "The connection to the AI model failed",
  server_shutdown: "The server shut down",
  protocol_error: "The page sent a message that was too large",
  server_crash: "The server stopped unexpectedly (recovered log)",
};

/** A disconnect reason in plain words (unknown ones as they are). */
export function reasonText(reason) {
  return REASONS[reason] ?? String(reason ?? "unknown");
}

/** Whether a reason means something went wrong (anything but a hang-up or a closed tab). */
export function reasonIsProblem(reason) {
  return !["user_hangup", "client_gone"].includes(reason);
}

/** Seconds as "45 s", "2 min 05 s" or "1 h 02 min"; "–" for none. */
export function formatDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "–";
  const whole = Math.round(seconds);
  if (whole < 60) return seconds < 10 && whole !== seconds ? `${seconds.toFixed(1)} s` : `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${String(whole % 60).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** A share in [0, 1] as a percentage ("12.5 %"); "–" for none. */
export function formatPercent(rate) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return "–";
  const percent = rate * 100;
  const digits = percent === 0 || percent >= 10 ? 0 : 1;
  return `${percent.toFixed(digits)} %`;
}

/** An ISO timestamp as local date and time ("25 Nov 2026, 16:20:03"). */
export function formatTime(iso, locale = undefined) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso ?? "");
  return date.toLocaleString(locale, {
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}
