"""A uniform random agent in a PointMaze through plain reset()/step() (the D4RL ref_min policy).

    uv run python examples/random_agent_maze.py [STEPS] [ENV_ID]

STEPS (default 2000) is the total step budget; ENV_ID defaults to adiff/PointMaze-UMaze-v0.
"""

import sys

import gymnasium as gym

import adiff_env  # noqa: F401  (registers the adiff/ ids)


def main(steps: int = 2000, env_id: str = "adiff/PointMaze-UMaze-v0") -> list[float]:
    env = gym.make(env_id)
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    returns, episode_return, episode = [], 0.0, 0
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        episode_return += reward
        if terminated or truncated:
            score = env.unwrapped.get_normalized_score(episode_return)
            print(f"episode {episode}: return {episode_return:.0f}, normalized x100 {100 * score:.1f}")
            returns.append(episode_return)
            episode, episode_return = episode + 1, 0.0
            obs, info = env.reset(seed=episode)
    print(f"{steps} steps, {len(returns)} full episodes, ball at {obs['achieved_goal'].round(2)}, goal {obs['desired_goal']}")
    env.close()
    return returns


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, sys.argv[2] if len(sys.argv) > 2 else "adiff/PointMaze-UMaze-v0")
