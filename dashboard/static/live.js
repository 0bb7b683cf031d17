// Live updates: the server's Server-Sent Events (fed by WatchService) make every
// section of the page fetch itself again (htmx, hx-trigger="lienthong:changed from:body")
// and add each event to the activity list.
(function () {
  "use strict";
  var status = document.getElementById("live");
  if (!status || !window.EventSource) { return; }
  var pending = null;
  var source = new EventSource(status.dataset.source);
  source.addEventListener("ready", function () {
    status.textContent = "Trực tiếp";
    status.className = "live on";
  });
  source.addEventListener("change", function (message) {
    var change = JSON.parse(message.data);
    var list = document.getElementById("activity");
    var empty = list.querySelector(".empty");
    if (empty) { empty.remove(); }
    var item = document.createElement("li");
    item.className = "event";
    item.dataset.position = change.position;
    item.textContent = "#" + change.position + " " + change.subject + " — " + change.topic + " (" + change.actor + ")";
    list.insertBefore(item, list.firstChild);
    status.textContent = "Trực tiếp · vị trí " + change.position;
    status.dataset.position = change.position;
    if (pending) { clearTimeout(pending); }
    pending = setTimeout(function () { htmx.trigger(document.body, "lienthong:changed"); }, 150);
  });
  source.onerror = function () {
    status.textContent = "Mất kết nối, đang thử lại…";
    status.className = "live off";
  };
})();
