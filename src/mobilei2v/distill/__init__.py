"""Time-step distillation (docs/distillation.md): the teacher's cached ODE pairs and the losses that teach a
1–2-step student from them."""
