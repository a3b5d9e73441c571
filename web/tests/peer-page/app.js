// The codelab's call page (https://webrtc.org/getting-started/firebase-rtc-codelab), audio only.
// Everything it writes and reads on the signaling documents is kept in `log`, so a test can check
// the far end got exactly what this RTCPeerConnection produced, and gave it what it consumed.
import {
  addDoc, collection, doc, getDoc, getFirestore, onSnapshot, setDoc, updateDoc,
} from '/firestore-standin.js';

const db = getFirestore();
const log = {
  wroteDescription: null,
  readDescription: null,
  sentCandidates: [],
  receivedCandidates: [],
  hangupSeen: null,
  errors: [],
};
let pc = null;
let callDoc = null;
let role = null;
const unsubscribes = [];

function setState(state) {
  document.getElementById('state').textContent = state;
}

async function openPeerConnection() {
  pc = new RTCPeerConnection({ iceServers: [] });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  stream.getTracks().forEach((track) => pc.addTrack(track, stream));
  pc.ontrack = (event) => {
    window.remoteStream = event.streams[0] ?? new MediaStream([event.track]);
    document.getElementById('remote').srcObject = window.remoteStream;
  };
  pc.onconnectionstatechange = () => setState(pc.connectionState);
}

function watchHangup(other) {
  unsubscribes.push(onSnapshot(callDoc, (snapshot) => {
    const data = snapshot.data();
    if (data?.hangup && data.hangup.by === other && !log.hangupSeen) {
      log.hangupSeen = data.hangup;
      pc.close();
      setState('ended');
    }
  }));
}

function addRemoteCandidates(collectionRef) {
  unsubscribes.push(onSnapshot(collectionRef, (snapshot) => {
    snapshot.docChanges().forEach((change) => {
      if (change.type === 'added') {
        const data = change.doc.data();
        log.receivedCandidates.push(data);
        pc.addIceCandidate(new RTCIceCandidate(data)).catch((e) => log.errors.push(`addIceCandidate: ${e}`));
      }
    });
  }));
}

/** The codelab's "create call": offer into calls/{id}, our candidates into offerCandidates. */
async function call(id) {
  role = 'caller';
  await openPeerConnection();
  callDoc = doc(db, 'calls', id);
  const offerCandidates = collection(callDoc, 'offerCandidates');
  pc.onicecandidate = (event) => {
    if (event.candidate) {
      const json = event.candidate.toJSON();
      log.sentCandidates.push(json);
      addDoc(offerCandidates, json);
    }
  };
  const offerDescription = await pc.createOffer();
  await pc.setLocalDescription(offerDescription);
  const offer = { type: offerDescription.type, sdp: offerDescription.sdp };
  log.wroteDescription = offer;
  await setDoc(callDoc, { offer });
  unsubscribes.push(onSnapshot(callDoc, (snapshot) => {
    const data = snapshot.data();
    if (!pc.currentRemoteDescription && data?.answer) {
      log.readDescription = data.answer;
      pc.setRemoteDescription(new RTCSessionDescription(data.answer))
        .catch((e) => log.errors.push(`setRemoteDescription: ${e}`));
    }
  }));
  addRemoteCandidates(collection(callDoc, 'answerCandidates'));
  watchHangup('callee');
}

/** The codelab's "answer call", once the call document has its offer. */
async function answer(id) {
  role = 'callee';
  await openPeerConnection();
  callDoc = doc(db, 'calls', id);
  const answerCandidates = collection(callDoc, 'answerCandidates');
  pc.onicecandidate = (event) => {
    if (event.candidate) {
      const json = event.candidate.toJSON();
      log.sentCandidates.push(json);
      addDoc(answerCandidates, json);
    }
  };
  let callData = (await getDoc(callDoc)).data();
  while (!callData?.offer) {
    await new Promise((r) => setTimeout(r, 100));
    callData = (await getDoc(callDoc)).data();
  }
  log.readDescription = callData.offer;
  await pc.setRemoteDescription(new RTCSessionDescription(callData.offer));
  const answerDescription = await pc.createAnswer();
  await pc.setLocalDescription(answerDescription);
  const answerValue = { type: answerDescription.type, sdp: answerDescription.sdp };
  log.wroteDescription = answerValue;
  await updateDoc(callDoc, { answer: answerValue });
  addRemoteCandidates(collection(callDoc, 'offerCandidates'));
  watchHangup('caller');
}

async function hangup() {
  pc.close();
  setState('ended');
  await updateDoc(callDoc, { hangup: { by: role } });
}

function sendDtmf(tones) {
  const sender = pc.getSenders().find((s) => s.track?.kind === 'audio');
  sender.dtmf.insertDTMF(tones, 100, 70);
}

async function callDocExists() {
  return (await getDoc(callDoc)).exists();
}

window.app = { call, answer, hangup, sendDtmf, callDocExists, log };
