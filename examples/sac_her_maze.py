"""Train Stable-Baselines3 SAC with hindsight experience replay (HER) on a PointMaze, then evaluate.

    uv run python examples/sac_her_maze.py [TIMESTEPS] [ENV_ID]

TIMESTEPS (default 20000; a few hundred thousand learn U-Maze well) is the training budget.
The env is a GoalEnv (observation / achieved_goal / desired_goal), so HER relabels goals with
``env.compute_reward`` unchanged.
"""

import sys

import gymnasium as gym
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.evaluation import evaluate_policy

import adiff_env  # noqa: F401  (registers the adiff/ ids)


def main(timesteps: int = 20_000, env_id: str = "adiff/PointMaze-UMaze-v0") -> float:
    env = gym.make(env_id)
    model = SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        learning_starts=env.spec.max_episode_steps + 1,  # HER samples only finished episodes
        batch_size=256,
        seed=0,
        device="cpu",
        verbose=0,
    )
    model.learn(total_timesteps=timesteps, progress_bar=False)
    mean_return, std_return = evaluate_policy(model, env, n_eval_episodes=3, deterministic=True)
    score = 100 * env.unwrapped.get_normalized_score(mean_return)
    print(f"SAC+HER after {timesteps} steps: return {mean_return:.1f} ± {std_return:.1f}, normalized x100 {score:.1f}")
    env.close()
    return mean_return


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, sys.argv[2] if len(sys.argv) > 2 else "adiff/PointMaze-UMaze-v0")
