"""A tiny retrieval-augmented support bot: find the relevant notes, fill a prompt
template, ask a hosted model through the official `openai` SDK."""

from __future__ import annotations

import re

import openai

NOTES = {
    "refunds": "Refunds are issued within 14 days to the original payment method.",
    "shipping": "Orders ship within 2 working days; express delivery takes 1 day.",
    "passwords": "Reset a password from the sign-in page with 'Forgot password'.",
    "invoices": "Invoices are in Account > Billing and can be downloaded as PDF.",
}

PROMPT = """You are a support assistant. Answer in one sentence using only these notes:
{notes}

Question: {question}"""

MODEL = "support-bot-ft"


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def retrieve(question: str, k: int = 2) -> list[str]:
    """The k notes sharing the most words with the question (a stand-in for a vector store)."""
    asked = words(question)
    ranked = sorted(NOTES.items(), key=lambda item: len(asked & words(item[0] + " " + item[1])), reverse=True)
    return [text for _, text in ranked[:k]]


def build_prompt(question: str) -> str:
    return PROMPT.format(notes="\n".join(f"- {n}" for n in retrieve(question)), question=question)


def answer(client: openai.OpenAI, question: str, model: str = MODEL) -> str:
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": build_prompt(question)}], max_tokens=120
    )
    return response.choices[0].message.content or ""


def answer_streamed(client: openai.OpenAI, question: str, model: str = MODEL) -> str:
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": build_prompt(question)}],
        stream=True,
        stream_options={"include_usage": True},
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
