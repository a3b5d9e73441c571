// Drives firestore-standin.js the way the Firebase WebRTC codelab drives Firestore, with two
// "peers" in one process (no WebRTC: only the signaling documents), against a running
// ringwire-docstore. Run by crates/docstore/tests/js_client.rs:
//   node codelab.mjs <ws://host:port/v1/docs>
// Exits non-zero with the failed assertion on any mismatch.

import assert from 'node:assert/strict';
import {
  FirestoreError, addDoc, collection, deleteCollection, deleteDoc, doc, getDoc, getDocs,
  getFirestore, onSnapshot, setDoc, updateDoc,
} from '../firestore-standin.js';

const url = process.argv[2];
// Below the Rust test's own timeout, so a failure here is reported with its reason.
const WAIT_MS = 5_000;

/** `promise`, or a rejection after WAIT_MS. */
function within(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the first value `check` accepts among the callback's calls. */
function waitFor(what, subscribe, check) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
    let unsubscribe = () => {};
    unsubscribe = subscribe((value) => {
      if (check(value)) {
        clearTimeout(timer);
        unsubscribe();
        resolve(value);
      }
    }, (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const db = getFirestore(url);
assert.equal(getFirestore(url), db, 'one instance per URL');

// --- The caller (codelab's "Create call"). ---
const callDoc = doc(collection(db, 'calls'));
assert.equal(callDoc.id.length, 20);
assert.equal(callDoc.parent.path, 'calls');
const offerCandidates = collection(callDoc, 'offerCandidates');
const answerCandidates = collection(callDoc, 'answerCandidates');
assert.equal(offerCandidates.path, `calls/${callDoc.id}/offerCandidates`);
assert.equal(offerCandidates.parent.path, callDoc.path);

const callerCandidates = [];
const callerGotAll = waitFor(
  'the answer candidates',
  (next, error) => onSnapshot(answerCandidates, (snapshot) => {
    snapshot.docChanges().forEach((change) => {
      if (change.type === 'added') callerCandidates.push(change.doc.data());
    });
    next(snapshot);
  }, error),
  () => callerCandidates.length === 2,
);
const answered = waitFor(
  'the answer',
  (next, error) => onSnapshot(callDoc, next, error),
  (snapshot) => snapshot.exists() && snapshot.data().answer !== undefined,
);

await addDoc(offerCandidates, { candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 });
const offer = { sdp: 'v=0\r\n'.repeat(3000), type: 'offer' }; // 15 KB, SDP-sized
await setDoc(callDoc, { offer });
await addDoc(offerCandidates, { candidate: 'candidate:2 1 udp 1 10.0.0.1 5001 typ host', sdpMid: '0', sdpMLineIndex: 0 });

// --- The callee (codelab's "Answer"), on a connection of its own. ---
const callee = getFirestore(`${url}?callee`);
const calleeCall = doc(callee, 'calls', callDoc.id);
const callData = (await getDoc(calleeCall)).data();
assert.deepEqual(callData.offer, offer);
const calleeOfferCandidates = [];
const calleeGotAll = waitFor(
  'the offer candidates',
  (next, error) => onSnapshot(collection(calleeCall, 'offerCandidates'), (snapshot) => {
    snapshot.docChanges().forEach((change) => {
      if (change.type === 'added') calleeOfferCandidates.push(change.doc.data());
    });
    next(snapshot);
  }, error),
  () => calleeOfferCandidates.length === 2,
);
await updateDoc(calleeCall, { answer: { type: 'answer', sdp: 'v=0\r\n' } });
await addDoc(collection(callee, 'calls', callDoc.id, 'answerCandidates'), { candidate: 'a1' });
await addDoc(collection(calleeCall, 'answerCandidates'), { candidate: 'a2' });

const answer = await answered;
assert.equal(answer.data().answer.type, 'answer');
assert.deepEqual(answer.data().offer, offer, 'update merged into the call document');
const candidatesSnapshot = await callerGotAll;
assert.deepEqual(callerCandidates, [{ candidate: 'a1' }, { candidate: 'a2' }]);
assert.equal(candidatesSnapshot.size, 2);
await calleeGotAll;
assert.equal(calleeOfferCandidates[0].candidate.split(' ')[0], 'candidate:1', 'creation order');
assert.equal(calleeOfferCandidates[1].sdpMLineIndex, 0);

// --- The rest of the API surface. ---
const listed = await getDocs(offerCandidates);
assert.equal(listed.size, 2);
assert.equal(listed.docs[0].data().sdpMid, '0');

// A collection listener sees modified and removed, with oldIndex/newIndex and docs kept.
const seen = [];
let last = null;
let firstSnapshot;
let allFour;
const started = new Promise((resolve) => { firstSnapshot = resolve; });
const four = new Promise((resolve) => { allFour = resolve; });
const unsubscribe = onSnapshot(answerCandidates, (snapshot) => {
  last = snapshot;
  snapshot.docChanges().forEach((c) => seen.push(`${c.type}:${c.doc.data().candidate}:${c.oldIndex}:${c.newIndex}`));
  firstSnapshot();
  if (seen.length >= 4) allFour();
});
// Writes made before the listener's first snapshot may already be in it: start writing after.
await within('the first snapshot', started);
const [first] = (await getDocs(answerCandidates)).docs;
await updateDoc(first.ref, { candidate: 'a1-changed' });
await deleteDoc(first.ref);
await within('the modification and the removal', four);
assert.deepEqual(seen, ['added:a1:-1:0', 'added:a2:-1:1', 'modified:a1-changed:0:0', 'removed:a1-changed:0:-1']);
assert.deepEqual(last.docs.map((d) => d.data().candidate), ['a2']);
unsubscribe();

// Errors carry Firestore's codes.
await assert.rejects(updateDoc(doc(db, 'calls', 'missing'), { a: 1 }), (e) => e instanceof FirestoreError && e.code === 'not-found' && e.serverCode === 'not_found');
await assert.rejects(setDoc(doc(db, 'calls/big'), { sdp: 'x'.repeat(65 * 1024) }), (e) => e.code === 'invalid-argument' && e.serverCode === 'data_too_large');
assert.throws(() => doc(db, 'calls'), (e) => e.code === 'invalid-argument');
assert.throws(() => collection(db, 'calls', 'x'), (e) => e.code === 'invalid-argument');
assert.throws(() => doc(db, 'calls', 'a b'), (e) => e.code === 'invalid-argument');

// A missing document's snapshot.
assert.equal((await getDoc(doc(db, 'calls', 'nothing'))).exists(), false);
assert.equal((await getDoc(doc(db, 'calls', 'nothing'))).data(), undefined);

// Cleanup through the stand-in's extra.
assert.equal(await deleteCollection(offerCandidates), 2);
await deleteDoc(callDoc);
assert.equal((await getDoc(callDoc)).exists(), false);

console.log('codelab flow: ok');
process.exit(0);
