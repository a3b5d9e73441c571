// firestore-standin.js: the browser (and Node) client of ringwire-docstore, a stand-in for Cloud
// Firestore used in tests and demos. It mimics the subset of Firebase's v9 modular API that a
// WebRTC app's signaling uses, so code written for Firestore runs against it unchanged except for
// the import:
//
//   import { getFirestore, collection, doc, setDoc, updateDoc, addDoc, getDoc, getDocs,
//            deleteDoc, onSnapshot } from '/firestore-standin.js';
//   const db = getFirestore();                     // the server this file was served from
//   const callDoc = doc(collection(db, 'calls'));  // a new random id
//   onSnapshot(collection(callDoc, 'answerCandidates'), (snapshot) => {
//     snapshot.docChanges().forEach((change) => {
//       if (change.type === 'added') pc.addIceCandidate(new RTCIceCandidate(change.doc.data()));
//     });
//   });
//
// It speaks the server's WebSocket protocol (/v1/docs; see crates/docstore/README.md). Plain ES
// module, no dependencies, no build step. Not supported (the server does not have them): queries,
// transactions, batched writes, setDoc's merge option, field paths with dots, sentinels such as
// serverTimestamp(), offline persistence.

const AUTO_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SEGMENT = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_SEGMENTS = 8;

// The server's error codes, as Firestore's (FirestoreError.code); the server's own code stays on
// `error.serverCode`.
const FIRESTORE_CODES = {
  malformed_frame: 'invalid-argument',
  unknown_op: 'unimplemented',
  invalid_path: 'invalid-argument',
  invalid_data: 'invalid-argument',
  data_too_large: 'invalid-argument',
  frame_too_large: 'invalid-argument',
  not_found: 'not-found',
  too_many_listeners: 'resource-exhausted',
  unknown_listener: 'not-found',
  unavailable: 'unavailable',
  fell_behind: 'aborted',
  internal: 'internal',
};

/** An error with a Firestore error code (`not-found`, `invalid-argument`, `unavailable`, ...). */
export class FirestoreError extends Error {
  constructor(code, message, serverCode) {
    super(message);
    this.name = 'FirestoreError';
    this.code = code;
    this.serverCode = serverCode;
  }
}

function fromWire(error) {
  const code = FIRESTORE_CODES[error.code] ?? 'unknown';
  return new FirestoreError(code, error.message, error.code);
}

function unavailable(why) {
  return new FirestoreError('unavailable', `the docstore connection closed (${why})`, 'unavailable');
}

/** The connection to one docstore server; opened on first use, and again after it closes. */
class Connection {
  constructor(url) {
    this.url = url;
    this.socket = null;
    this.opening = null;
    this.nextId = 1;
    this.pending = new Map(); // request id -> {resolve, reject, onListen}
    this.listeners = new Map(); // listener id -> {onPush, onError}
  }

  open() {
    if (this.opening) return this.opening;
    this.opening = new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      socket.onopen = () => {
        this.socket = socket;
        resolve(socket);
      };
      socket.onmessage = (event) => this.receive(event.data);
      socket.onclose = (event) => {
        reject(unavailable(`cannot connect to ${this.url}`));
        this.closed(event.reason || `code ${event.code}`);
      };
      // 'error' is always followed by 'close', which does the work.
      socket.onerror = () => {};
    });
    return this.opening;
  }

  closed(why) {
    this.socket = null;
    this.opening = null;
    const error = unavailable(why);
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    for (const { onError } of listeners) onError(error);
  }

  /** Sends `{op, ...fields}`; resolves with the answer's `ok`, rejects with a FirestoreError. */
  async request(op, fields, onListen) {
    const socket = await this.open();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onListen });
      socket.send(JSON.stringify({ id, op, ...fields }));
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return; // the server sends only JSON; nothing to route
    }
    if (typeof frame.listen === 'number') {
      const listener = this.listeners.get(frame.listen);
      if (!listener) return; // unsubscribed meanwhile
      if (frame.error) {
        this.listeners.delete(frame.listen);
        listener.onError(fromWire(frame.error));
      } else {
        listener.onPush(frame);
      }
      return;
    }
    const pending = this.pending.get(frame.id);
    if (!pending) return;
    this.pending.delete(frame.id);
    if (frame.error) {
      pending.reject(fromWire(frame.error));
      return;
    }
    // Register a listener here, before the next message is read: its first push comes next.
    if (pending.onListen) pending.onListen(frame.ok.listener);
    pending.resolve(frame.ok);
  }

  unlisten(listener) {
    this.listeners.delete(listener);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      const id = this.nextId++;
      this.socket.send(JSON.stringify({ id, op: 'unlisten', listener }));
    }
  }
}

/** A docstore, as Firestore's `Firestore` instance. */
export class Firestore {
  constructor(url) {
    this.type = 'firestore';
    this._connection = new Connection(url);
  }
}

const instances = new Map();

/**
 * The store at `url` (`ws://host:port/v1/docs`); without one, the server this file was served
 * from. Connects on first use. A Firebase app object in place of the URL is ignored, so
 * `getFirestore(app)` works too.
 */
export function getFirestore(url) {
  if (typeof url !== 'string') {
    const here = new URL('/v1/docs', import.meta.url);
    here.protocol = here.protocol === 'https:' ? 'wss:' : 'ws:';
    url = here.href;
  }
  if (!instances.has(url)) instances.set(url, new Firestore(url));
  return instances.get(url);
}

function splitPath(parts) {
  const segments = [];
  for (const part of parts) {
    if (typeof part !== 'string') {
      throw new FirestoreError('invalid-argument', `path segments must be strings, got ${typeof part}`);
    }
    segments.push(...part.split('/'));
  }
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) {
      throw new FirestoreError(
        'invalid-argument',
        `invalid path segment ${JSON.stringify(segment)}: use 1-128 characters of A-Z a-z 0-9 _ -`,
      );
    }
  }
  if (segments.length > MAX_SEGMENTS) {
    throw new FirestoreError('invalid-argument', `a path has at most ${MAX_SEGMENTS} segments`);
  }
  return segments;
}

/** A document's location, as Firestore's `DocumentReference`. */
export class DocumentReference {
  constructor(firestore, segments) {
    this.type = 'document';
    this.firestore = firestore;
    this.path = segments.join('/');
    this.id = segments[segments.length - 1];
    this._segments = segments;
  }

  get parent() {
    return new CollectionReference(this.firestore, this._segments.slice(0, -1));
  }
}

/** A collection's location, as Firestore's `CollectionReference`. */
export class CollectionReference {
  constructor(firestore, segments) {
    this.type = 'collection';
    this.firestore = firestore;
    this.path = segments.join('/');
    this.id = segments[segments.length - 1];
    this._segments = segments;
  }

  get parent() {
    return this._segments.length > 1
      ? new DocumentReference(this.firestore, this._segments.slice(0, -1))
      : null;
  }
}

function base(parent) {
  if (parent instanceof Firestore) return { firestore: parent, segments: [] };
  if (parent instanceof DocumentReference || parent instanceof CollectionReference) {
    return { firestore: parent.firestore, segments: parent._segments };
  }
  throw new FirestoreError('invalid-argument', 'expected a Firestore, DocumentReference or CollectionReference');
}

/** A random 20-character document id, as Firestore's. */
function autoId() {
  const bytes = new Uint8Array(40);
  let id = '';
  while (id.length < 20) {
    crypto.getRandomValues(bytes);
    for (const b of bytes) {
      // 248 = 4 * 62: bytes above are redrawn so each character is equally likely.
      if (b < 248 && id.length < 20) id += AUTO_ID_ALPHABET[b % 62];
    }
  }
  return id;
}

/**
 * `doc(db, 'calls', id)`, `doc(db, 'calls/abc')`, `doc(collectionRef, id)`,
 * `doc(documentRef, 'sub', id)`, or `doc(collectionRef)` for a new random id.
 */
export function doc(parent, ...pathSegments) {
  const { firestore, segments } = base(parent);
  const all = parent instanceof CollectionReference && pathSegments.length === 0
    ? [...segments, autoId()]
    : [...segments, ...splitPath(pathSegments)];
  if (all.length === 0 || all.length % 2 !== 0) {
    throw new FirestoreError(
      'invalid-argument',
      `"${all.join('/')}" is not a document path: it needs an even number of segments`,
    );
  }
  return new DocumentReference(firestore, all);
}

/** `collection(db, 'calls')`, `collection(docRef, 'offerCandidates')`, `collection(db, 'calls', id, 'offerCandidates')`. */
export function collection(parent, ...pathSegments) {
  const { firestore, segments } = base(parent);
  const all = [...segments, ...splitPath(pathSegments)];
  if (all.length % 2 !== 1) {
    throw new FirestoreError(
      'invalid-argument',
      `"${all.join('/')}" is not a collection path: it needs an odd number of segments`,
    );
  }
  return new CollectionReference(firestore, all);
}

/** A document as read, as Firestore's `DocumentSnapshot`. */
export class DocumentSnapshot {
  constructor(ref, data) {
    this.ref = ref;
    this.id = ref.id;
    this._data = data;
  }

  exists() {
    return this._data !== null && this._data !== undefined;
  }

  /** The fields (a fresh copy), or `undefined` if the document does not exist. */
  data() {
    return this.exists() ? structuredClone(this._data) : undefined;
  }

  /** One top-level field. */
  get(field) {
    return this.exists() ? structuredClone(this._data[field]) : undefined;
  }
}

/** A document of a collection (it exists), as Firestore's `QueryDocumentSnapshot`. */
export class QueryDocumentSnapshot extends DocumentSnapshot {
  data() {
    return structuredClone(this._data);
  }
}

/** A collection as read, as Firestore's `QuerySnapshot`. */
export class QuerySnapshot {
  constructor(query, docs, changes) {
    this.query = query;
    this.docs = docs;
    this.size = docs.length;
    this.empty = docs.length === 0;
    this._changes = changes;
  }

  forEach(callback, thisArg) {
    this.docs.forEach(callback, thisArg);
  }

  /** The changes since the previous snapshot: `[{type, doc, oldIndex, newIndex}]`. */
  docChanges() {
    return this._changes;
  }
}

function checkData(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new FirestoreError('invalid-argument', 'document data must be an object');
  }
  return JSON.parse(JSON.stringify(data));
}

function checkRef(ref, type) {
  if (!ref || ref.type !== type) {
    throw new FirestoreError('invalid-argument', `expected a ${type === 'document' ? 'DocumentReference' : 'CollectionReference'}`);
  }
  return ref;
}

/** Creates or replaces the document. */
export async function setDoc(ref, data, options) {
  checkRef(ref, 'document');
  if (options && (options.merge || options.mergeFields)) {
    throw new FirestoreError('unimplemented', 'setDoc with merge is not supported by the stand-in: use updateDoc');
  }
  await ref.firestore._connection.request('set', { path: ref.path, data: checkData(data) });
}

/** Merges top-level fields into the existing document; rejects with `not-found` if none. */
export async function updateDoc(ref, data) {
  checkRef(ref, 'document');
  await ref.firestore._connection.request('update', { path: ref.path, data: checkData(data) });
}

/** Creates a document with a new random id; resolves with its reference. */
export async function addDoc(ref, data) {
  checkRef(ref, 'collection');
  const ok = await ref.firestore._connection.request('add', { path: ref.path, data: checkData(data) });
  return new DocumentReference(ref.firestore, ok.path.split('/'));
}

/** Reads the document. */
export async function getDoc(ref) {
  checkRef(ref, 'document');
  const ok = await ref.firestore._connection.request('get', { path: ref.path });
  return new DocumentSnapshot(ref, ok.exists ? ok.data : null);
}

/** Reads the collection's documents, in creation order. */
export async function getDocs(ref) {
  checkRef(ref, 'collection');
  const ok = await ref.firestore._connection.request('list', { path: ref.path });
  const docs = ok.docs.map((d) => new QueryDocumentSnapshot(doc(ref, d.id), d.data));
  const changes = docs.map((d, i) => ({ type: 'added', doc: d, oldIndex: -1, newIndex: i }));
  return new QuerySnapshot(ref, docs, changes);
}

/** Deletes the document (not its subcollections, as Firestore). */
export async function deleteDoc(ref) {
  checkRef(ref, 'document');
  await ref.firestore._connection.request('delete', { path: ref.path });
}

/**
 * Deletes every document of the collection. Not in Firebase's SDK: a cleanup convenience of the
 * stand-in. Resolves with how many it deleted.
 */
export async function deleteCollection(ref) {
  checkRef(ref, 'collection');
  const ok = await ref.firestore._connection.request('delete_collection', { path: ref.path });
  return ok.deleted;
}

/**
 * Listens to a document or a collection, as Firestore's `onSnapshot`:
 * `onSnapshot(ref, next, error?)`, `onSnapshot(ref, {next, error})`, or with an options object
 * second (ignored). Returns the unsubscribe function.
 *
 * A document listener calls `next(DocumentSnapshot)` with the current state, then once per
 * change. A collection listener calls `next(QuerySnapshot)` with every document as `added`, then
 * once per batch of changes. After an error (`error(FirestoreError)`), it calls nothing more.
 */
export function onSnapshot(ref, ...args) {
  if (args.length > 0 && typeof args[0] === 'object' && args[0] !== null
    && typeof args[0].next !== 'function' && typeof args[0].error !== 'function') {
    args.shift(); // SnapshotListenOptions: nothing here depends on them
  }
  let observer;
  if (typeof args[0] === 'function') {
    observer = { next: args[0], error: args[1] };
  } else {
    observer = args[0] ?? {};
  }
  const next = (value) => observer.next?.(value);
  const fail = (error) => {
    if (observer.error) observer.error(error);
    else console.error('onSnapshot:', error);
  };
  if (!ref || (ref.type !== 'document' && ref.type !== 'collection')) {
    throw new FirestoreError('invalid-argument', 'onSnapshot needs a DocumentReference or CollectionReference');
  }
  const connection = ref.firestore._connection;
  const onPush = ref.type === 'document' ? documentPushes(ref, next) : collectionPushes(ref, next);

  let listener = null;
  let active = true;
  connection
    .request('listen', { path: ref.path }, (id) => {
      listener = id;
      if (active) {
        connection.listeners.set(id, {
          onPush,
          onError: (error) => {
            active = false;
            fail(error);
          },
        });
      } else {
        connection.unlisten(id); // unsubscribed before the server answered
      }
    })
    .catch((error) => {
      if (active) {
        active = false;
        fail(error);
      }
    });
  return () => {
    if (!active) return;
    active = false;
    if (listener !== null) connection.unlisten(listener);
  };
}

function documentPushes(ref, next) {
  return (frame) => {
    const s = frame.snapshot;
    next(new DocumentSnapshot(ref, s.exists ? s.data : null));
  };
}

function collectionPushes(ref, next) {
  // The collection as this listener knows it, in creation order, kept from the changes.
  let docs = [];
  return (frame) => {
    // A new array per snapshot: earlier snapshots keep the docs they were given.
    docs = [...docs];
    const changes = [];
    for (const change of frame.changes) {
      const snapshot = new QueryDocumentSnapshot(doc(ref, change.id), change.data);
      const oldIndex = docs.findIndex((d) => d.id === change.id);
      if (change.type === 'added') {
        docs.push(snapshot);
        changes.push({ type: 'added', doc: snapshot, oldIndex: -1, newIndex: docs.length - 1 });
      } else if (change.type === 'modified') {
        docs[oldIndex] = snapshot;
        changes.push({ type: 'modified', doc: snapshot, oldIndex, newIndex: oldIndex });
      } else if (change.type === 'removed') {
        docs.splice(oldIndex, 1);
        changes.push({ type: 'removed', doc: snapshot, oldIndex, newIndex: -1 });
      }
    }
    next(new QuerySnapshot(ref, docs, changes));
  };
}
