"""A scripted agent writes programs for procedural tasks through reset()/step().

Story: a user wants to see the code env loop before plugging in a learning agent. The agent
below is deliberately naive: its first attempt returns the input unchanged; then it reads the
feedback and, on its second attempt, writes the reference-shaped program by copying the
numbers from the prompt (here: it looks the reference up, standing in for a smarter model).

    uv run python examples/code_env_random.py                    # ProcessSandbox (local)
    uv run python examples/code_env_random.py --sandbox docker   # the Docker warm pool
"""

from __future__ import annotations

import argparse
import warnings

import gymnasium as gym

import adiff_env  # noqa: F401  (registers the adiff/ ids)


class ScriptedCoder:
    """SB3-style predict(): attempt 1 echoes the input, attempt 2 writes the reference."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        task = self.env.unwrapped.task
        if not observation["feedback"]:  # first attempt of the episode
            return f"def {task.entry_point}(x):\n    return x\n", state
        return task.solution, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="procedural:test:3")
    parser.add_argument("--sandbox", default="process", choices=["process", "docker"])
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()
    if args.sandbox == "process":
        warnings.filterwarnings("ignore", message="ProcessSandbox is NOT a security boundary")
    env = gym.make("adiff/CodeTests-v0", tasks=args.tasks, sandbox=args.sandbox, max_attempts=3)
    agent = ScriptedCoder(env)
    try:
        for episode in range(args.episodes):
            obs, info = env.reset(seed=episode)
            print(f"=== episode {episode}: {info['task_id']} ({info['tests_total']} hidden tests)")
            print(obs["prompt"])
            done = False
            while not done:
                program, _ = agent.predict(obs)
                obs, reward, terminated, truncated, info = env.step(program)
                done = terminated or truncated
                print(f"attempt {info['attempt']}: reward {reward:.2f}, {info['exec_result'].wall_s:.2f} s")
                print("  " + obs["feedback"].splitlines()[0])
                if not terminated and obs["feedback"].count("\n"):
                    print("  " + obs["feedback"].splitlines()[1][:100])
            print(f"solved: {info['success']}\n")
    finally:
        env.close()


if __name__ == "__main__":
    main()
