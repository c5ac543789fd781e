#include "GoAssistLiveLinkStatus.h"

#include "HAL/PlatformTime.h"

FGoAssistLiveLinkStatusCounters& FGoAssistLiveLinkStatusCounters::Get()
{
	static FGoAssistLiveLinkStatusCounters Counters;
	return Counters;
}

bool UGoAssistLiveLinkStatusLibrary::IsGoAssistConnected()
{
	return GetGoAssistLastFrameAgeSeconds() < 1.0f;
}

float UGoAssistLiveLinkStatusLibrary::GetGoAssistLastFrameAgeSeconds()
{
	const double Last = FGoAssistLiveLinkStatusCounters::Get().LastFrameSeconds.load();
	return Last <= 0.0 ? TNumericLimits<float>::Max() : static_cast<float>(FPlatformTime::Seconds() - Last);
}

int64 UGoAssistLiveLinkStatusLibrary::GetGoAssistFramesAccepted()
{
	return FGoAssistLiveLinkStatusCounters::Get().FramesAccepted.load();
}

int64 UGoAssistLiveLinkStatusLibrary::GetGoAssistMalformedPackets()
{
	return FGoAssistLiveLinkStatusCounters::Get().PacketsMalformed.load();
}

int32 UGoAssistLiveLinkStatusLibrary::GetGoAssistActiveSubjects()
{
	return FGoAssistLiveLinkStatusCounters::Get().ActiveSubjects.load();
}
