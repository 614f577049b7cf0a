// The renderer of the main-process variant: subscribe once, show the subscription, list pushes.
// It sees only window.push, the bridge preload.ts exposes; push-agent itself runs in main.

const SCOPE = "app://electron-example/";

const pushes = document.getElementById("pushes");
window.push.onMessage((message) => {
  const item = document.createElement("li");
  item.textContent = `${message.text ?? "(no payload)"}`;
  pushes.append(item);
});

const subscription = (await window.push.getSubscription(SCOPE)) ?? (await window.push.subscribe(SCOPE));
document.getElementById("subscription").textContent = JSON.stringify(subscription, null, 2);
