// What went wrong or how a call ended, in plain words for the person on the call.
// Pure functions of codes and error names, so they can be tested without a browser.

/**
 * Why the call ended, from the websocket's close event.
 * @param {number} code close code
 * @param {{opened: boolean, byUser: boolean}} how whether the call had connected, and whether
 *   the person hung up themselves
 * @returns {{text: string, problem: boolean}}
 */
export function closeMessage(code, { opened, byUser }) {
  if (byUser) return { text: "Call ended.", problem: false };
  if (!opened) {
    return {
      text:
        "Could not connect to the voice service. It may be busy or not accept calls from this " +
        "page; please try again in a moment.",
      problem: true,
    };
  }
  switch (code) {
    case 1000:
      return { text: "The call was ended by the service.", problem: false };
    case 1001:
      return {
        text: "The voice service is restarting. Please call again in a moment.",
        problem: true,
      };
    case 1009:
      return { text: "The call ended: the page sent more data than the service accepts.", problem: true };
    case 1011:
      return {
        text: "The voice service is unavailable right now. Please try again later.",
        problem: true,
      };
    case 1006:
      return { text: "The connection to the voice service was lost.", problem: true };
    default:
      return { text: `The call ended unexpectedly (code ${code}).`, problem: true };
  }
}

/**
 * Why the microphone could not be opened, from the DOMException's name.
 * @param {string} name
 */
export function microphoneMessage(name) {
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone access was blocked. Allow the microphone for this page and try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Connect one and try again.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone could not be started. Another program may be using it.";
    case "InsecureContext":
      return (
        "The browser only allows the microphone on a secure page: open this page over " +
        "https:// or from http://localhost."
      );
    default:
      return `The microphone could not be opened (${name}).`;
  }
}

/** The text of a Realtime `error` event, for the page. */
export function serviceErrorMessage(event) {
  const message = event?.error?.message;
  return message ? `The voice service reported a problem: ${message}` : "The voice service reported a problem.";
}
