"""The decision flow: banner → consent API → signed cookie + log row + daily aggregates.

Also the policy the banner shows (and its history), and the consent gate every
gateway hit passes through.
"""
