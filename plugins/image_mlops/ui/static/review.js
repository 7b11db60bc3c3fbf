// Keyboard review: arrows move between cards, digits choose a class (then the next card),
// 0 skips, Ctrl+Enter saves. Without JavaScript the form still works with Tab and arrows.
document.addEventListener("DOMContentLoaded", () => {
  const cards = Array.from(document.querySelectorAll(".card"));
  const form = document.getElementById("review-form");
  if (!cards.length || !form) return;
  const focusCard = (i) => cards[Math.max(0, Math.min(cards.length - 1, i))].focus();
  const current = () => cards.indexOf(document.activeElement.closest(".card"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    const i = current();
    if (i < 0) return;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") {
      event.preventDefault();
      focusCard(i + 1);
    } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
      event.preventDefault();
      focusCard(i - 1);
    } else if (/^[0-9]$/.test(event.key)) {
      const radios = cards[i].querySelectorAll("input[type=radio]");
      const n = Number(event.key);
      // radios: one per class in order, then "skip" last
      const radio = n === 0 ? radios[radios.length - 1] : radios[n - 1];
      if (radio && (n === 0 || n < radios.length)) {
        event.preventDefault();
        radio.checked = true;
        focusCard(i + 1);
      }
    }
  });
  focusCard(0);
});
