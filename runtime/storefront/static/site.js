// Progressive enhancement only: every form works without this file.
document.querySelectorAll("form[data-autosubmit]").forEach((form) => {
  form.classList.add("js");
  form.addEventListener("change", () => form.requestSubmit());
});
