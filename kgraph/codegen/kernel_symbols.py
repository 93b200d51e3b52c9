"""A program's calls to its kernels, by symbol instead of by linking the kernels' code into the caller.

Numba links a callee's compiled module into its caller and optimizes and emits the whole again, so a
program's loop compiled every kernel a second time. Here a program module binds each kernel's name to a
`Kernel`: compiled code calls it as an external function, under a symbol named after the kernel's module
and argument types. The symbol is defined when the call is compiled, and again by a reload hook that Numba
stores with a cached caller and runs before it loads that caller's code (the kernel loads from its own cache).
A kernel's module uses the same mechanism for a function of its own that its parallel function calls (a
projected recurrent scan's walk): linked in, it would be optimized again with the parallel code.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from dataclasses import dataclass

from llvmlite import binding as llvm
from numba.core import cgutils, types
from numba.core.imputils import lower_builtin, lower_constant
from numba.extending import models, register_model, typeof_impl

from kgraph.codegen.cache import SHARED_NAME


def kernel_dispatcher(module_name: str, function: str = SHARED_NAME):
    """The `SHARED_NAME` function (or `function`) of the generated kernel module `module_name`
    (codegen/cpu.py), which a program loads before its own module."""
    return getattr(sys.modules[module_name], function)


class Kernel:
    """A kernel as its program's module binds it (compiled code calls it by symbol); or, with `function`, a
    function of a kernel's module that another function of it calls by symbol (a parallel kernel's part)."""

    def __init__(self, module_name: str, function: str = SHARED_NAME):
        self.module_name = module_name
        self.function = function

    @property
    def dispatcher(self):
        return kernel_dispatcher(self.module_name, self.function)

    def __repr__(self) -> str:
        return f"Kernel({self.module_name!r}, {self.function!r})"


@dataclass(frozen=True)
class KernelSymbol:
    """Defines the symbol of one kernel for one list of argument types: compiles or loads the kernel and
    points the symbol at its compiled function. Picklable: Numba stores it with a cached caller."""

    module_name: str
    argtypes: tuple
    function: str = SHARED_NAME

    @property
    def name(self) -> str:
        digest = hashlib.sha256(str(self.argtypes).encode()).hexdigest()[:16]
        return f"kgraph_{self.module_name}_{self.function}_{digest}"

    def __call__(self) -> None:
        dispatcher = kernel_dispatcher(self.module_name, self.function)
        compiled = dispatcher.overloads.get(self.argtypes)
        if compiled is None:
            dispatcher.compile(self.argtypes)
            compiled = dispatcher.overloads[self.argtypes]
        llvm.add_symbol(self.name, compiled.library.get_pointer_to_function(compiled.fndesc.mangled_name))


class KernelType(types.Callable, types.Dummy):
    """Numba's type of a `Kernel`: calls type as calls of the kernel's dispatcher (which compiles it)."""

    def __init__(self, module_name: str, function: str):
        self.module_name, self.function = module_name, function
        super().__init__(name=f"Kernel({module_name}.{function})")

    def get_call_type(self, context, args, kws):
        dispatcher = kernel_dispatcher(self.module_name, self.function)
        template, pysig, args, kws = dispatcher.get_call_template(args, kws)
        signature = template(context).apply(args, kws)
        return signature.replace(pysig=pysig) if signature else None

    def get_call_signatures(self):
        return kernel_dispatcher(self.module_name, self.function).nopython_signatures, True

    def get_impl_key(self, signature):
        return self


register_model(KernelType)(models.OpaqueModel)


@lower_constant(KernelType)
def _kernel_constant(context, builder, ty, value):
    return context.get_dummy_value()


@typeof_impl.register(Kernel)
def _typeof_kernel(value, context):
    return kernel_type(value.module_name, value.function)


@functools.cache
def kernel_type(module_name: str, function: str = SHARED_NAME) -> KernelType:
    """The kernel's type, with the lowering of its calls registered (once)."""
    kernel = KernelType(module_name, function)

    def call(context, builder, signature, args):
        symbol = KernelSymbol(module_name, tuple(signature.args), function)
        symbol()
        context.active_code_library._reload_init.add(symbol)
        function_type = context.call_conv.get_function_type(signature.return_type, signature.args)
        callee = cgutils.get_or_insert_function(builder.module, function_type, symbol.name)
        status, result = context.call_conv.call_function(
            builder, callee, signature.return_type, signature.args, args
        )
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return result

    lower_builtin(kernel, types.VarArg(types.Any))(call)
    return kernel
