"""Drives `kiln mcp` with the official MCP Python SDK, as a coding agent would.

usage: python3 mcp_client.py KILN TASKS RUNS CACHE GOOD_SOURCE WRONG_SOURCE HOSTILE_SOURCE [KILN_MCP_ARGUMENT...]
(the arguments after the seventh are given to `kiln mcp`, such as --executor ray --ray-address ADDR)
Prints one line per check and exits non-zero on the first failure.
"""
import asyncio
import re
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def failed(result):
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def text(result):
    return "\n".join(getattr(item, "text", "") for item in result.content)


async def main():
    kiln, tasks, runs, cache, good, wrong, hostile = sys.argv[1:8]
    params = StdioServerParameters(
        command=kiln, args=["mcp", "--tasks", tasks, "--runs", runs, "--cache-dir", cache] + sys.argv[8:]
    )
    shape = {"shapes": ["odd-193x257x131"]}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = {tool.name for tool in (await session.list_tools()).tools}
            expected = {"list_tasks", "describe_task", "evaluate", "tune", "probe", "list_runs", "show_run"}
            assert expected <= names, f"tools: {sorted(names)}"
            print("check: tools listed")
            assert "matmul" in text(await session.call_tool("list_tasks", {}))
            described = text(await session.call_tool("describe_task", {"task": "matmul"}))
            assert "entry point matmul" in described, described
            figures = re.findall(r"^- (\S+): (\d+\.\d{3}) ms per call, (\d+\.\d) GFLOP/s", described, re.M)
            assert figures and all(float(ms) > 0 for _, ms, _ in figures), described
            again = text(await session.call_tool("describe_task", {"task": "matmul"}))
            assert "(cached)" in again and figures == re.findall(
                r"^- (\S+): (\d+\.\d{3}) ms per call, (\d+\.\d) GFLOP/s", again, re.M
            ), again
            print("check: tasks listed and described, with the baseline's measured figures")

            result = await session.call_tool("evaluate", {"task": "matmul", "source": open(good).read(), **shape})
            assert not failed(result) and "correct" in text(result), text(result)
            print("check: a correct candidate is correct")

            result = await session.call_tool("evaluate", {"task": "matmul", "source": open(wrong).read(), **shape})
            assert failed(result) and "wrong_result" in text(result), text(result)
            print("check: a wrong candidate is wrong")

            result = await session.call_tool("evaluate", {"task": "matmul", "source": open(hostile).read(), **shape})
            assert failed(result) and "integrity_violation" in text(result), text(result)
            print("check: a hostile candidate is caught")

            result = await session.call_tool("evaluate", {"task": "matmul"})
            assert failed(result) and "source" in text(result), text(result)
            result = await session.call_tool("describe_task", {"task": "../../etc"})
            assert failed(result), text(result)
            print("check: malformed arguments get clear errors")

            runs_text = text(await session.call_tool("list_runs", {}))
            assert '"proposer" : "mcp"' in runs_text, runs_text
            print("check: evaluations are journaled in an mcp run")


asyncio.run(main())
