"""Measures of clips and videos, shared by the data steps (scoring, filtering) and evaluation: the motion
score and optical flow (`motion`), clarity (`quality`), autoencoder round trips (`reconstruction`) and the
per-video measures of what a viewer sees (`video`)."""
