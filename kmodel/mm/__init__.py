"""Memory management: the buddy allocator per node, slab, vmalloc/vmap, fault injection."""
