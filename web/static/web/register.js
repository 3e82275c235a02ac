// Sign-up: POST /api/v1/auth/register, then the session login form with the same details.

import { api } from "./api.js";

const form = document.getElementById("register-form");
const error = form.querySelector(".form-error");

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  error.hidden = true;
  const body = {
    email: form.email.value.trim(),
    password: form.password.value,
    display_name: form.display_name.value.trim(),
  };
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    await api.register(body);
    const login = document.getElementById("login-after-register");
    login.username.value = body.email;
    login.password.value = body.password;
    login.submit();
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    button.disabled = false;
  }
});
