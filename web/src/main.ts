// Entry point: keeps the device token for this tab (sessionStorage, so two tabs can be two
// devices), signs in and out, and exposes the running phone as `window.ringwire` for debugging
// from the console and for the browser tests.

import { Phone } from './phone';
import { Ui } from './ui';

const TOKEN_KEY = 'ringwire.token';

declare global {
  interface Window {
    ringwire: { phone: Phone | null; ui: Ui };
  }
}

let phone: Phone | null = null;

const ui = new Ui({
  signIn(token: string) {
    sessionStorage.setItem(TOKEN_KEY, token);
    start(token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    phone?.stop();
    phone = null;
    window.ringwire.phone = null;
    ui.attach(null);
  },
});

function start(token: string): void {
  phone?.stop();
  const audio = document.getElementById('remote-audio') as HTMLAudioElement;
  phone = new Phone(token, audio, {
    changed: () => {
      if (phone?.fatal && !phone.me) sessionStorage.removeItem(TOKEN_KEY);
      ui.render();
    },
  });
  window.ringwire.phone = phone;
  ui.attach(phone);
  phone.start();
}

window.ringwire = { phone: null, ui };
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
else ui.attach(null);
