/**
 * node-opcua's own warnings and errors, routed into our logger.
 *
 * node-opcua writes through its own loggers (node-opcua-debug make_warningLog /
 * make_errorLog) straight to the console with console.log, a line per line of the
 * message. Two of its messages were a nuisance in a plant's log:
 * - while a server certificate is untrusted, the whole certificate (about 15 lines of
 *   base64) at every connection retry. Our driver already says once what to do
 *   (opcua-source.ts), so certificate bodies are cut out here and a repeated message is
 *   logged at debug level only;
 * - `[NODE-OPCUA-W27] ... you need to use node flag --security-revert=CVE-2023-46809`,
 *   at every start on Node 20. It comes from a self-test that node-opcua-secure-channel
 *   runs when the module is loaded (verify_pcks1.js, testRSAPKCS1V15_EncryptDecrypt):
 *   it tries RSA PKCS#1 v1.5 decryption, which Node 20 disables since its fix for
 *   CVE-2023-46809. Loading node-opcua triggers it, so it cannot be avoided; it only
 *   matters for the Basic128Rsa15 and Basic256 policies, which the gateway does not
 *   offer (config/types.ts OPCUA_SECURITY_POLICIES). It is replaced by one info line
 *   saying so; the revert flag is NOT needed and should not be used.
 */
import { format } from 'node:util';
import { createLogger, type Logger } from '../../../common/logger.js';

type OpcuaLogSetters = Pick<typeof import('node-opcua'), 'setWarningLogger' | 'setErrorLogger'>;

/** Longest message kept in the log; node-opcua sometimes dumps whole structures. */
const MAX_MESSAGE_CHARS = 400;

/** A PEM block, or a run of base64 long enough to be a key or certificate body. */
const CERTIFICATE_BODY =
  /-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----|[A-Za-z0-9+/=]{64,}(\s*\n\s*[A-Za-z0-9+/=]{16,})*/g;

/** What the CVE-2023-46809 self-test means for this gateway (said once per process). */
export const PKCS1_NOTE =
  "node-opcua's RSA PKCS#1 v1.5 self-test failed as expected on Node 20 (CVE-2023-46809 fix): only the Basic128Rsa15 and Basic256 policies need it, and the gateway offers neither; do not start Node with --security-revert";

/**
 * Turns one node-opcua message into one log line: certificate bodies cut out, joined
 * to a single line, bounded in length.
 */
export function cleanNodeOpcuaMessage(args: readonly unknown[]): string {
  const text = format(...args)
    .replace(CERTIFICATE_BODY, '[certificate omitted]')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' | ');
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

/**
 * The handler for node-opcua's warning or error logger: first occurrence of a message
 * at `level`, repeats at debug (a message repeated at every retry is logged once).
 */
export function nodeOpcuaLogHandler(
  log: Logger,
  level: 'warn' | 'error',
  seen: Set<string> = new Set(),
): (context?: unknown, ...args: unknown[]) => void {
  let pkcs1Noted = false;
  return (context, ...args) => {
    const message = cleanNodeOpcuaMessage(args);
    if (/NODE-OPCUA-W27|CVE-2023-46809/.test(message)) {
      if (!pkcs1Noted) log.info(PKCS1_NOTE);
      pkcs1Noted = true;
      return;
    }
    const at = describeContext(context);
    // Digits vary between repeats (ports, counters, timestamps): compare without them.
    const key = `${level}:${message.replace(/\d+/g, '#')}`;
    if (seen.has(key)) {
      log.debug({ at }, message);
      return;
    }
    if (seen.size < 1000) seen.add(key);
    log[level]({ at }, message);
  };
}

function describeContext(context: unknown): string | undefined {
  if (!context || typeof context !== 'object') return undefined;
  const { filename, callerline } = context as { filename?: unknown; callerline?: unknown };
  return typeof filename === 'string' ? `${filename}:${String(callerline)}` : undefined;
}

let installed = false;

/** Routes node-opcua's warnings and errors into `gateway.acquisition.node-opcua`; once per process. */
export function routeNodeOpcuaLogs(opcua: OpcuaLogSetters, logger?: Logger): void {
  if (installed) return;
  installed = true;
  const log = logger ?? createLogger('gateway.acquisition.node-opcua');
  const seen = new Set<string>();
  opcua.setWarningLogger(nodeOpcuaLogHandler(log, 'warn', seen));
  opcua.setErrorLogger(nodeOpcuaLogHandler(log, 'error', seen));
}
