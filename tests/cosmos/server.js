// The local Cosmos DB server the tests run against: @vercel/cosmosdb-server on 127.0.0.1.
//
// Usage: node server.js [--port N] [--request-log FILE]
//
// Prints one line `{"port": N}` once it listens (port 0 picks a free one).  Reads commands on
// stdin, one per line, and answers each on stdout:
//   down          -> stops listening and resets every open connection (an outage; data is kept)
//   up            -> listens again on the same port
//   fail N STATUS [PART] -> answers the next N requests whose path contains PART (default
//                           "/docs": document requests) with STATUS (429: throttled); a PART
//                           of the form METHOD:PATH matches only that method (PUT:/colls/X:
//                           replacing container X, as an account that refuses key-based
//                           metadata writes does), and one of the form SQL:TEXT only document
//                           queries whose SQL contains TEXT (SQL:ORDER: sorted listings)
// With --request-log, appends one JSON line per request: method, url and the headers tests look
// at (authorization, upsert, query, partition key, cross-partition).
// It exits when stdin closes.
//
// Why not the package's CLI: it answers every request with `Connection: close`, so each call
// would pay a TCP and TLS handshake; createHttpsServer({ keepAlive: true }) keeps connections.
//
// Gaps of version 1.0.1 are patched here rather than worked around in the app:
// - reading a missing document crashes its handler (500) instead of answering 404 NotFound;
// - an ORDER BY over several properties is served only by a composite index declared in the
//   same directions, while Cosmos DB also serves it from one declared in the exact reverse
//   (the relay declares one ascending index for its newest-first and oldest-first queries);
// - a container created without an indexing policy reports `{indexingMode: "consistent"}`,
//   not the default policy Cosmos DB gives it (every path range-indexed, no composite index);
// - replacing a container (an online index update in Cosmos DB) empties it;
// - the account advertises the server's own address, not the one clients reach it by;
// - listening again (after "down") would start a fresh, empty account.
// Not patched, and avoided by the app: OFFSET/LIMIT, DISTINCT and GROUP BY are not
// implemented, TTL is not enforced, and every request is charged 1 RU.
"use strict";

const fs = require("fs");
const readline = require("readline");
const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const { parsePartitionKey } = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");

const originalReadDocument = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    const header = req.headers["x-ms-documentdb-partitionkey"];
    const key = parsePartitionKey(Array.isArray(header) ? header[0] : header, params.docId);
    if (!collection.document(params.docId, key).read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  }
  return originalReadDocument(account, req, res, params);
};

const queryHelpers = require("@zeit/cosmosdb-query/lib/helpers");
const originalSort = queryHelpers.sort;
const reversed = (index) =>
  index.map(({ path, order }) => ({ path, order: order === "ascending" ? "descending" : "ascending" }));
queryHelpers.sort = (collection, getRid, compositeIndexes, ...orders) =>
  originalSort(
    collection,
    getRid,
    compositeIndexes && compositeIndexes.concat(compositeIndexes.map(reversed)),
    ...orders,
  );

// A container created without an indexing policy gets Cosmos DB's default one.  Like Cosmos DB,
// the server then refuses an ORDER BY over several properties on it (400, "The order by query
// does not have a corresponding composite index that it can be served from."): the relay's
// tests of containers made elsewhere depend on that refusal.
const Collections = require("@vercel/cosmosdb-server/lib/account/collections").default;
const defaultIndexingPolicy = () => ({
  indexingMode: "consistent",
  automatic: true,
  includedPaths: [{ path: "/*" }],
  excludedPaths: [{ path: '/"_etag"/?' }],
});
const originalCreateCollection = Collections.prototype.create;
Collections.prototype.create = function create(data) {
  const withPolicy = data.indexingPolicy ? data : { ...data, indexingPolicy: defaultIndexingPolicy() };
  return originalCreateCollection.call(this, withPolicy);
};

// Replacing a container changes its definition (an online index update, in Cosmos DB); its
// documents stay.  The package builds a new, empty collection: hand it the old one's contents.
const originalReplaceCollection = Collections.prototype.replace;
Collections.prototype.replace = function replace(data, original) {
  const before = this._item("/id", data.id, data.id);
  const replaced = originalReplaceCollection.call(this, data, original);
  const after = this._item("/id", data.id, data.id);
  for (const part of ["documents", "partitionKeyRanges", "userDefinedFunctions"]) {
    after[part] = before[part];
    after[part]._parent = after;
  }
  return replaced;
};

// A request body is read once by the package's handlers; keep it, so that a fault on a query's
// text (below) can read it first.
const jsonModule = require("@vercel/cosmosdb-server/lib/json");
const readJson = jsonModule.default;
jsonModule.default = (req) => {
  req.parsedJson = req.parsedJson || readJson(req);
  return req.parsedJson;
};

// Faults on request (see the request listener below).  A fault on SQL text is applied here,
// where the query is known.
const fault = { remaining: 0, status: 0, part: "/docs" };
const queryDocuments = require("@vercel/cosmosdb-server/lib/handler/query-documents");
const originalQueryDocuments = queryDocuments.default;
queryDocuments.default = async (account, req, res, params) => {
  const body = await jsonModule.default(req);
  const sql = fault.part.startsWith("SQL:") ? fault.part.slice(4) : null;
  if (fault.remaining > 0 && sql !== null && String(body.query).includes(sql)) {
    fault.remaining -= 1;
    res.statusCode = fault.status;
    res.setHeader("x-ms-request-charge", "0");
    return { code: String(fault.status), message: "injected by the test" };
  }
  return originalQueryDocuments(account, req, res, params);
};

// The account advertises its regional endpoint as the address the server listens on, and the
// SDK sends every later request there; a real gateway advertises the address clients reach it
// by.  Answer with the Host the client used, so that a proxy in front of the server stays in
// the path.
const readMeta = require("@vercel/cosmosdb-server/lib/handler/read-meta");
readMeta.default = (account, req) => {
  const meta = JSON.parse(JSON.stringify(account.read()));
  for (const location of [...meta.writableLocations, ...meta.readableLocations]) {
    location.databaseAccountEndpoint = `https://${req.headers.host}/`;
  }
  return meta;
};

// The package makes a fresh, empty account each time the server starts listening; keep the
// first, so that an outage ("down", then "up") keeps the data as a real account would.
const accountModule = require("@vercel/cosmosdb-server/lib/account");
const Account = accountModule.default;
let account;
accountModule.default = function SharedAccount(host, port) {
  account = account || new Account(host, port);
  return account;
};

// Required after the patches: the route table copies the handlers when it is loaded.
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
let port = Number(option("--port") || 0);
const requestLog = option("--request-log");

const server = createHttpsServer({ keepAlive: true });
const sockets = new Set();
server.on("connection", (socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
});

// Faults on request, for the tests of throttling, refusals and server errors: the next N
// requests whose path contains `part` are answered with `status` (429 with a short
// retry-after, like Cosmos DB's).
const isTrue = (value) => String(value).toLowerCase() === "true";
const faultMatches = (req) => {
  if (fault.part.startsWith("SQL:")) return false; // applied by the query handler
  const [method, path] = fault.part.includes(":") ? fault.part.split(":") : [null, fault.part];
  return (method === null || req.method === method) && req.url.includes(path);
};
const [handleRequest] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => {
  if (requestLog) {
    // Written before the answer, so a test that got its answer finds the line.
    const line = {
      method: req.method,
      url: req.url,
      authorization: req.headers.authorization || null,
      upsert: isTrue(req.headers["x-ms-documentdb-is-upsert"]),
      query: isTrue(req.headers["x-ms-documentdb-isquery"]),
      partitionKey: req.headers["x-ms-documentdb-partitionkey"] || null,
      crossPartition: isTrue(req.headers["x-ms-documentdb-query-enablecrosspartition"]),
    };
    fs.appendFileSync(requestLog, JSON.stringify(line) + "\n");
  }
  if (fault.remaining > 0 && faultMatches(req)) {
    fault.remaining -= 1;
    req.resume();
    req.on("end", () => {
      res.statusCode = fault.status;
      res.setHeader("content-type", "application/json");
      res.setHeader("x-ms-request-charge", "0");
      if (fault.status === 429) res.setHeader("x-ms-retry-after-ms", "20");
      res.end(JSON.stringify({ code: String(fault.status), message: "injected by the test" }));
    });
    return;
  }
  handleRequest(req, res);
});

const listen = (reply) => {
  server.listen(port, "127.0.0.1", () => {
    port = server.address().port;
    process.stdout.write(reply(port) + "\n");
  });
};
listen((p) => JSON.stringify({ port: p }));

readline.createInterface({ input: process.stdin }).on("line", (command) => {
  if (command === "down") {
    server.close(() => process.stdout.write("down\n"));
    for (const socket of sockets) socket.destroy();
  } else if (command === "up") {
    listen(() => "up");
  } else if (command.startsWith("fail ")) {
    const [, count, status, part] = command.split(" ");
    fault.remaining = Number(count);
    fault.status = Number(status);
    fault.part = part || "/docs";
    process.stdout.write("ok\n");
  } else {
    process.stdout.write(`unknown command ${JSON.stringify(command)}\n`);
  }
}).on("close", () => process.exit(0));
