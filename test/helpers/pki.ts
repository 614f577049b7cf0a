/**
 * A private CA made for one test run with the machine's openssl: the CA, a server certificate
 * for 127.0.0.1, localhost and push.test (a name only a test proxy resolves) signed by it, and a client certificate signed by it. Files live in a
 * temporary directory the caller removes.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface PrivatePki {
  dir: string;
  caFile: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  clientCertFile: string;
  clientKeyFile: string;
  remove(): void;
}

function openssl(dir: string, command: string): void {
  execFileSync("openssl", command.split(" "), { cwd: dir, stdio: "pipe" });
}

/** A new P-256 key in `<name>.key` and a request (or, with -x509, a self-signed certificate). */
const NEW_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

function signed(dir: string, name: string, subject: string, extensions: string): void {
  openssl(dir, `req ${NEW_KEY} -keyout ${name}.key -subj ${subject} -out ${name}.csr`);
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(
    dir,
    `x509 -req -in ${name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ${name}.ext -out ${name}.pem`,
  );
}

export function createPrivatePki(): PrivatePki {
  const dir = mkdtempSync(path.join(tmpdir(), "push-agent-pki-"));
  // Subjects without spaces: the command lines are split on spaces.
  openssl(dir, `req -x509 ${NEW_KEY} -keyout ca.key -subj /CN=push-agent-test-CA -days 2 -out ca.pem`);
  signed(
    dir,
    "server",
    "/CN=127.0.0.1",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:push.test\nextendedKeyUsage=serverAuth\n",
  );
  signed(dir, "client", "/CN=push-agent-client", "extendedKeyUsage=clientAuth\n");
  const read = (file: string) => readFileSync(path.join(dir, file), "utf8");
  return {
    dir,
    caFile: path.join(dir, "ca.pem"),
    ca: read("ca.pem"),
    serverCert: read("server.pem"),
    serverKey: read("server.key"),
    clientCert: read("client.pem"),
    clientKey: read("client.key"),
    clientCertFile: path.join(dir, "client.pem"),
    clientKeyFile: path.join(dir, "client.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
