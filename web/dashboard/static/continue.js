// The signed-in /signin page: submit its form at once, so a browser sent here by the Simple API
// comes back with a fresh token without a click. A GET never mints one; this POST does, with
// the page's CSRF token, which only a page of this origin can read.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("continue");
  if (form) form.submit();
});
