"""A typed request/response dialog: ``@agentree.context(pld_spec=...)``.

Every payload of the dialog (the started value, the stream items, the return
value) must match the declared msgspec type, here a tagged union of a request and
a response. Payloads are checked where they are received; one that does not match
raises ``MsgTypeError`` there, naming the field and the expected type, and the
sender learns of it as a ``RemoteActorError``.

Run it from the repository root::

    python examples/streams/typed_dialog.py
"""

import msgspec
import trio

import agentree


class Convert(msgspec.Struct, tag="convert"):
    """A request: convert ``celsius`` to Fahrenheit."""

    celsius: float


class Converted(msgspec.Struct, tag="converted"):
    """The answer to a :class:`Convert`."""

    celsius: float
    fahrenheit: float


Payload = Convert | Converted


@agentree.context(pld_spec=Payload)
async def converter(ctx: agentree.Context) -> None:
    """Answer every ``Convert`` request with a ``Converted`` response."""
    await ctx.started(Converted(celsius=0.0, fahrenheit=32.0))
    async with ctx.open_stream() as stream:
        async for request in stream:
            assert isinstance(request, Convert)
            await stream.send(Converted(request.celsius, request.celsius * 9 / 5 + 32))


async def main() -> None:
    """Ask for three conversions, then send a request that breaks the spec."""
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("converter", enable_modules=[__name__])
        async with portal.open_context(converter) as (ctx, first):
            print(f"started with {first!r}")
            async with ctx.open_stream() as stream:
                for celsius in (-40.0, 37.0, 100.0):
                    await stream.send(Convert(celsius))
                    reply = await stream.receive()
                    print(f"{reply.celsius:g} C -> {reply.fahrenheit:g} F")

        # A request with a string where a float belongs: the converter's side
        # rejects it, and the error comes back here.
        try:
            async with (
                portal.open_context(converter) as (ctx, _),
                ctx.open_stream() as stream,
            ):
                await stream.send({"type": "convert", "celsius": "hot"})
                await stream.receive()
        except agentree.RemoteActorError as err:
            print(f"the converter refused it: {err.boxed_type_str}: {err.message}")
        await portal.cancel_actor()
    print("typed dialog done")


if __name__ == "__main__":
    trio.run(main)
