"""The corpus files the samples are drawn from, their text fields, and the fixed seed."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus"
SEED = 1234

LOCAL_RL = "reasoning_gym_eval_local_rl.jsonl"
HARNESS = "reasoning_gym_eval_math_harness.jsonl"
ZEROSHOT = "reasoning_gym_eval_zeroshot_api.jsonl"
MISGUIDED = "misguided_attention_outputs.jsonl"
TEXT_FIELD = {
    LOCAL_RL: "full_model_response",
    HARNESS: "response",
    ZEROSHOT: "full_model_response",
    MISGUIDED: "output",
}
SHORT = {LOCAL_RL: "local_rl", HARNESS: "harness", ZEROSHOT: "zeroshot", MISGUIDED: "misguided"}
BASE = "Qwen/Qwen2.5-3B-Instruct"  # model_path_in_metadata of the un-RL'd model in LOCAL_RL
GAMES = "../models/inter_games_qwen_3b_500"
