"""The local web app, `mobilei2v app`: drop a photo, choose the motion, watch the video.

`generation` checks a request and runs the pipeline (no web involved); `server` is the Gradio page
around it and needs the `app` extra.
"""
