"""Reading a rendered nginx site for the tests that check what each block repeats: nginx's add_header and limit_conn
inherit only into blocks that set none of their own."""


def blocks(site: str):
    """Each block of the site as (its opening line, its own directives), innermost first; comments dropped."""
    found, stack = [], []
    for line in site.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.endswith("{"):
            stack.append((line, []))
        elif line == "}":
            found.append(stack.pop())
        elif line and stack:
            stack[-1][1].append(line)
    return found
