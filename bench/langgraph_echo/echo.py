"""The echo agent as a LangGraph graph, for bench/stores.sh's run of LangGraph's own dev server (`langgraph dev`,
in-memory): the same answer as agentfcgi's `echo-fast` agent, without a model."""
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph


def echo(state: MessagesState):
    return {"messages": [AIMessage(content="You said: " + state["messages"][-1].content)]}


graph = StateGraph(MessagesState).add_node("echo", echo).add_edge(START, "echo").add_edge("echo", END).compile()
