"""The sentiment app on sentiserve: before.py with the model moved out of Streamlit.

The model, its batching and the prediction cache live in one sentiserve shared by
every Streamlit process (and every other client); the app only holds an HTTP client.
No torch or transformers here.

    pip install -r examples/streamlit/requirements.txt      # from the repository root
    SENTISERVE_URL=http://127.0.0.1:8080 streamlit run examples/streamlit/app.py
"""

import os

import pandas as pd
import streamlit as st

from sentiserve_client import Client, SentiserveError


@st.cache_resource  # one client (and connection pool) per Streamlit process
def sentiserve() -> Client:
    url = os.environ.get("SENTISERVE_URL", "http://127.0.0.1:8080")
    return Client(url, api_key=os.environ.get("SENTISERVE_API_KEY"), timeout=60)


def call(method, *args, **kwargs):
    """Runs a client call; shows the server's error and stops the script when it fails."""
    try:
        return method(*args, **kwargs)
    except SentiserveError as error:
        st.error(f"sentiserve at {sentiserve().url}: {error}")
        st.stop()


def read_texts(upload) -> list:
    if upload.name.lower().endswith(".csv"):
        frame = pd.read_csv(upload)
        if "text" not in frame.columns:
            st.error("The CSV needs a `text` column.")
            st.stop()
        return frame["text"].dropna().astype(str).tolist()
    return [line for line in upload.getvalue().decode("utf-8").splitlines() if line.strip()]


st.set_page_config(page_title="Sentiment", page_icon=":bar_chart:")
st.title("Sentiment")
client = sentiserve()

models = call(client.models)
model = st.selectbox("Model", models.names, index=models.names.index(models.default) if models.default in models.names else 0)

with st.form("analyze"):
    text = st.text_area("Text", "I love this movie!")
    analyze = st.form_submit_button("Analyze")
if analyze:  # kept in the session so later reruns (uploads, clearing) still show it
    st.session_state.result = call(client.analyze, text, model=model).results[0]
if "result" in st.session_state:
    result = st.session_state.result
    st.metric("Label", result.label)
    for s in result.scores:
        st.progress(min(max(s.score, 0.0), 1.0), text=f"{s.label} {s.score:.3f}")
    st.caption("Served from the server's cache." if result.cached else "Computed by the model (now cached).")

if st.button("Clear cache"):
    cleared = call(client.clear_cache)
    st.success(f"Cache cleared: {cleared.cache.entries} entries left.")

upload = st.file_uploader("Batch: a CSV with a `text` column, or a .txt with one text per line", type=["csv", "txt"])
if upload is not None:
    texts = read_texts(upload)
    results = [r for i in range(0, len(texts), 256) for r in call(client.analyze, texts[i : i + 256], model=model)]
    table = pd.DataFrame(
        {"text": texts, "label": [r.label for r in results], "score": [r.score for r in results], "cached": [r.cached for r in results]}
    )
    st.dataframe(table, hide_index=True)
    st.subheader("Label counts")
    st.bar_chart(table["label"].value_counts())
