// The pipeline page keeps itself current: it reloads every few seconds unless a person is typing.
(function () {
  var view = document.querySelector("[data-refresh]");
  if (!view) return;
  var seconds = parseInt(view.getAttribute("data-refresh"), 10) || 5;
  setInterval(function () {
    var active = document.activeElement;
    if (!active || (active.tagName !== "INPUT" && active.tagName !== "TEXTAREA")) location.reload();
  }, seconds * 1000);
})();
