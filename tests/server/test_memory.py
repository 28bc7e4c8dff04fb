from rag.server import memory


def test_memory_helpers_are_safe_to_call_anywhere():
    assert isinstance(memory.limit_arenas(), bool)  # False where the C library is not glibc
    memory.trim()
