"""The sentiment app as it is usually written: the model runs inside Streamlit.

Every Streamlit process loads its own copy of the model (st.cache_resource), caches
predictions in its own memory (st.cache_data), and needs torch + transformers.
Compare with app.py, which asks a shared sentiserve instead.

    pip install streamlit pandas transformers torch
    streamlit run examples/streamlit/before.py
"""

import pandas as pd
import streamlit as st
from transformers import pipeline

MODELS = {
    "sentiment": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    "minilm": "philschmid/MiniLM-L6-H384-uncased-sst2",
}


@st.cache_resource  # one model per process and per name, loaded on first use
def load(name: str):
    return pipeline("sentiment-analysis", model=MODELS[name])


@st.cache_data  # per process; lost on restart; no way to see or clear it but st.cache_data.clear()
def classify(name: str, texts: tuple) -> list:
    return load(name)(list(texts), top_k=None)  # all labels for each text, best first


st.title("Sentiment")
name = st.selectbox("Model", list(MODELS))
text = st.text_area("Text", "I love this movie!")
if st.button("Analyze"):
    scores = classify(name, (text,))[0]
    st.metric("Label", scores[0]["label"], f"{scores[0]['score']:.3f}")
    for s in scores:
        st.progress(s["score"], text=f"{s['label']} {s['score']:.3f}")
if st.button("Clear cache"):
    classify.clear()

upload = st.file_uploader("Batch (CSV with a `text` column, or .txt with one text per line)", type=["csv", "txt"])
if upload is not None:
    if upload.name.endswith(".csv"):
        texts = pd.read_csv(upload)["text"].astype(str).tolist()
    else:
        texts = [line for line in upload.getvalue().decode("utf-8").splitlines() if line.strip()]
    top = [scores[0] for scores in classify(name, tuple(texts))]
    table = pd.DataFrame({"text": texts, "label": [t["label"] for t in top], "score": [t["score"] for t in top]})
    st.dataframe(table)
    st.bar_chart(table["label"].value_counts())
